-- Host test game for gptimage.love (see main.lua). A small window: the
-- graphics module needs one to make images; no sound device is needed.
function love.conf(t)
  t.identity = "gptimage-host-test"
  t.window.title = "gptimage host test"
  t.window.width = 320
  t.window.height = 240
  t.window.vsync = 0
  t.modules.audio = false
  t.modules.sound = false
  t.modules.joystick = false
  t.modules.physics = false
  t.modules.video = false
end
