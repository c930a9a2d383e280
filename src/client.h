/* client: the gptimage.Client userdata: its configuration and its Lua
 * methods.
 *
 * A client holds its configuration (the struct is in client_state.h, where
 * the layers below read it).  It owns no event loop and no multi handle of
 * its own making: poll() runs one round of the drive (drive.h) without
 * waiting; start() makes the drive ready and starts a job (job.h); the
 * calls that block are in wait.h.  Jobs in flight are anchored in the
 * client's uservalue table (jobs[lightuserdata] = job userdata) so that
 * nothing they need can be collected before they end. */
#ifndef GPTIMAGE_CLIENT_H
#define GPTIMAGE_CLIENT_H

#include "client_state.h"

void gi_client_open(lua_State *L);
int gi_client_new(lua_State *L);                 /* gptimage.new{...} */

#endif
