-- Host test of the example game (see main.lua): a small window, no sound.
function love.conf(t)
  t.identity = "gptimage-example-test"
  t.window.title = "gptimage example test"
  t.window.width = 480
  t.window.height = 360
  t.window.vsync = 0
  t.modules.audio = false
  t.modules.sound = false
  t.modules.joystick = false
  t.modules.physics = false
  t.modules.video = false
end
