/* clock: the monotonic clock every deadline in the module is measured on
 * (timeouts of wait, retry times, the work budget of a poll).
 *
 * Contract: seconds as a double; only differences mean anything; never goes
 * back.  Pure C, no Lua: the transfer callbacks and their fuzzer use it. */
#ifndef GPTIMAGE_CLOCK_H
#define GPTIMAGE_CLOCK_H

double gi_now(void);

#endif
