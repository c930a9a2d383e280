/* os: monotonic clock, isatty, sleep, folder listing, mkdir -p and the
 * working folder for the Lua layer (see os.h).  POSIX only. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include "os.h"

/* nil, "<what> '<path>': <reason>", errno */
static int push_failure(lua_State *L, const char *what, const char *path, int err) {
  lua_pushnil(L);
  lua_pushfstring(L, "%s '%s': %s", what, path, strerror(err));
  lua_pushinteger(L, err);
  return 3;
}

static int os_clock(lua_State *L) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return luaL_error(L, "gptimage.os.clock: %s", strerror(errno));
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

static int os_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  lua_pushboolean(L, fd >= 0 && fd <= 0x7fffffff && isatty((int)fd) == 1);
  return 1;
}

static int os_sleep(lua_State *L) {
  lua_Number seconds = luaL_checknumber(L, 1);
  struct timespec ts;
  if (!(seconds > 0)) return 0; /* also NaN */
  if (seconds > 1e9) seconds = 1e9;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (lua_Number)ts.tv_sec) * 1e9);
  if (ts.tv_nsec > 999999999L) ts.tv_nsec = 999999999L;
  /* a signal ends the wait: the interpreter's Ctrl-C hook then runs */
  (void)nanosleep(&ts, NULL);
  return 0;
}

/* An open folder in a userdata whose __gc closes it, so that a push that
 * raises (out of memory) cannot leak the descriptor. */
#define DIR_MT "gptimage.os_dir"

static int dir_gc(lua_State *L) {
  DIR **box = (DIR **)luaL_checkudata(L, 1, DIR_MT);
  if (*box != NULL) {
    closedir(*box);
    *box = NULL;
  }
  return 0;
}

static int os_listdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  DIR **box;
  struct dirent *item;
  int n = 0, err;
  box = (DIR **)lua_newuserdata(L, sizeof *box);
  *box = NULL;
  luaL_getmetatable(L, DIR_MT);
  lua_setmetatable(L, -2);
  *box = opendir(path);
  if (*box == NULL) return push_failure(L, "cannot list folder", path, errno);
  lua_newtable(L);
  for (;;) {
    errno = 0;
    item = readdir(*box);
    if (item == NULL) break;
    if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0) continue;
    lua_pushstring(L, item->d_name);
    lua_rawseti(L, -2, ++n);
  }
  err = errno;
  if (closedir(*box) != 0 && err == 0) err = errno;
  *box = NULL;
  if (err != 0) return push_failure(L, "cannot list folder", path, err);
  return 1;
}

/* mkdir of one prefix; 0, or the errno */
static int make_one(const char *path) {
  struct stat st;
  if (mkdir(path, 0777) == 0) return 0;
  if (errno != EEXIST) return errno;
  if (stat(path, &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

static int os_mkdirs(lua_State *L) {
  size_t len, i;
  const char *path = luaL_checklstring(L, 1, &len);
  char *copy;
  int err = 0;
  if (len == 0 || strlen(path) != len) return luaL_argerror(L, 1, "a folder path without NUL bytes");
  copy = (char *)lua_newuserdata(L, len + 1); /* collected, whatever raises */
  memcpy(copy, path, len + 1);
  /* every prefix that ends before a slash, then the whole path */
  for (i = 1; i <= len && err == 0; i++) {
    if (i == len || (copy[i] == '/' && copy[i - 1] != '/')) {
      char saved = copy[i];
      copy[i] = '\0';
      err = make_one(copy);
      copy[i] = saved;
    }
  }
  if (err != 0) return push_failure(L, "cannot create folder", path, err);
  lua_pushboolean(L, 1);
  return 1;
}

static int os_cwd(lua_State *L) {
  size_t size;
  for (size = 256;; size *= 2) {
    char *buf = (char *)lua_newuserdata(L, size); /* collected, whatever raises */
    if (getcwd(buf, size) != NULL) {
      lua_pushstring(L, buf);
      return 1;
    }
    if (errno != ERANGE || size >= ((size_t)1 << 20))
      return push_failure(L, "cannot read the working folder", ".", errno);
    lua_pop(L, 1);
  }
}

static int os_kind(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) != 0) return push_failure(L, "cannot look at", path, errno);
  if (S_ISREG(st.st_mode)) lua_pushliteral(L, "file");
  else if (S_ISDIR(st.st_mode)) lua_pushliteral(L, "directory");
  else if (S_ISFIFO(st.st_mode)) lua_pushliteral(L, "fifo");
  else if (S_ISSOCK(st.st_mode)) lua_pushliteral(L, "socket");
  else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) lua_pushliteral(L, "device");
  else lua_pushliteral(L, "other");
  return 1;
}

static const luaL_Reg OS_FUNCTIONS[] = {
  {"clock", os_clock},
  {"isatty", os_isatty},
  {"sleep", os_sleep},
  {"listdir", os_listdir},
  {"mkdirs", os_mkdirs},
  {"cwd", os_cwd},
  {"kind", os_kind},
  {NULL, NULL}
};

void gi_os_open(lua_State *L) {
  if (luaL_newmetatable(L, DIR_MT)) {
    lua_pushcfunction(L, dir_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_newtable(L);
  luaL_setfuncs(L, OS_FUNCTIONS, 0);
  lua_setfield(L, -2, "os");
}
