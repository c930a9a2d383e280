/* reaper: lets go of a file that a save replaces, off the calling thread.
 *
 * Renaming a finished image over an existing file drops the old file's
 * last name, and the kernel frees it inside rename(): its cached pages and
 * its blocks, about 0.1 ms of CPU per MB on ext4 here, in the poll that
 * delivers the image (a 25 MB image: several milliseconds, frames lost in
 * a game).  gi_reaper_hold opens the old file before the rename, so that
 * rename() only moves a name; gi_reaper_release then closes it on a short
 * detached thread, where the freeing happens.  Readers that had the old
 * file open keep reading it whole, as with any rename.
 *
 * Contract: gi_reaper_hold(path) -> a descriptor, or -1 when there is
 * nothing worth holding (no such file, not a regular file, one with other
 * names, any failure; the save goes on as before).  gi_reaper_release(fd)
 * takes it back, -1 included, and never fails: when no thread can be made
 * it closes the file itself.  The first release keeps the module loaded
 * for the life of the process (a thread may outlive the Lua state that
 * loaded it).  Thread-safe.  Pure C, no Lua. */
#ifndef GPTIMAGE_REAPER_H
#define GPTIMAGE_REAPER_H

int gi_reaper_hold(const char *path);
void gi_reaper_release(int fd);

#endif
