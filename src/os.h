/* os: the few operating-system services the Lua layer needs, so that no Lua
 * file shells out.  Registered as the table gptimage.os:
 *
 *   clock()          -> seconds of a monotonic clock (a float; only
 *                       differences mean anything)
 *   isatty(fd)       -> true when the descriptor (0, 1, 2...) is a terminal
 *   sleep(seconds)   -> waits; returns early when a signal arrives, so that
 *                       Ctrl-C is seen at once
 *   listdir(path)    -> the names in a folder, without "." and "..", in no
 *                       particular order
 *   mkdirs(path)     -> true once path and its parents are folders (mkdir -p)
 *   cwd()            -> the working folder, absolute
 *   kind(path)       -> "file", "directory", "fifo", "socket", "device" or
 *                       "other" (symbolic links followed), without opening
 *                       it: opening a FIFO to look would block
 *
 * Contract: a wrong argument type raises; a failure of the system returns
 * nil, a message naming the path, and the errno number (as io.open does). */
#ifndef GPTIMAGE_OS_H
#define GPTIMAGE_OS_H

#include "lua_compat.h"

/* Sets the field "os" of the table on top of the stack. */
void gi_os_open(lua_State *L);

#endif
