/* reaper: lets go of a file that a save replaces, off the calling thread (see reaper.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* O_CLOEXEC, O_NOFOLLOW, dladdr under -std=c99 */
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include "reaper.h"

int gi_reaper_hold(const char *path) {
  struct stat st;
  int fd;
  /* only a regular file that this name alone keeps: a symbolic link is
   * replaced, not its target, and another name keeps the file alive */
  if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) return -1;
  /* non-blocking, no link followed: whatever the path became since the
   * lstat, opening it cannot wait (a FIFO) or reach somewhere else */
  fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
    close(fd);
    return -1;
  }
  return fd;
}

static void *close_later(void *arg) {
  close((int)(intptr_t)arg);
  return NULL;
}

/* A thread may still be on its way into close_later when the interpreter
 * closes its state and unloads the module (lua.c does so right before it
 * exits): the module's code must stay mapped.  Marking the loaded module
 * RTLD_NODELETE keeps it for the life of the process.  Without that (the
 * module built into a program, no dladdr), files are closed in place. */
static pthread_once_t pin_once = PTHREAD_ONCE_INIT;
static int pinned;

static void pin_module(void) {
  Dl_info info;
  void *self;
  if (dladdr((void *)(uintptr_t)close_later, &info) == 0 || info.dli_fname == NULL) return;
  self = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
  /* the handle only counts a reference; NODELETE stays once set */
  if (self == NULL) return;
  dlclose(self);
  pinned = 1;
}

void gi_reaper_release(int fd) {
  pthread_t thread;
  pthread_attr_t attr;
  int made = 0;
  if (fd < 0) return;
  if (pthread_once(&pin_once, pin_module) == 0 && pinned && pthread_attr_init(&attr) == 0) {
    /* a small stack: the thread only calls close() */
    if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
        pthread_attr_setstacksize(&attr, 64 * 1024) == 0)
      made = pthread_create(&thread, &attr, close_later, (void *)(intptr_t)fd) == 0;
    pthread_attr_destroy(&attr);
  }
  if (!made) close(fd);
}
