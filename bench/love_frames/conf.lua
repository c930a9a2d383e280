-- The frame-time benchmark game (see main.lua): a small window, no vsync, so
-- that every frame's length is the game's own work.
function love.conf(t)
  t.identity = "gptimage-frame-bench"
  t.window.title = "gptimage frame benchmark"
  t.window.width = 640
  t.window.height = 480
  t.window.vsync = 0
  t.modules.audio = false
  t.modules.sound = false
  t.modules.joystick = false
  t.modules.physics = false
  t.modules.video = false
end
