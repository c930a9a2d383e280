-- The window of the gptimage example game (see main.lua).
function love.conf(t)
  t.identity = "gptimage-example"
  t.window.title = "gptimage: generating while the game runs"
  t.window.width = 800
  t.window.height = 600
  t.window.resizable = true
  t.modules.audio = false
  t.modules.sound = false
  t.modules.joystick = false
  t.modules.physics = false
end
