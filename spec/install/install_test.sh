#!/bin/sh
# The install test: `cmake --install` of this build into a scratch prefix,
# then what a user gets is used as a user would use it: the one gptimage
# command (the same file for every build, picking the Lua that has the
# module), bash and zsh completion driven as the shells drive them, and the
# man page rendered by man with warnings on. Needs GPTIMAGE_BUILD_DIR,
# GPTIMAGE_SOURCE_DIR and GPTIMAGE_LUA_VERSION (set by ctest).
set -eu
build=${GPTIMAGE_BUILD_DIR:?} source=${GPTIMAGE_SOURCE_DIR:?} version=${GPTIMAGE_LUA_VERSION:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() { # name, then a command that must succeed
  name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok - $name"
  else failed=$((failed + 1)); echo "FAIL - $name"; fi
}

cmake --install "$build" --prefix "$work/prefix" >/dev/null
prefix=$work/prefix
# Only the scratch prefix: nothing installed elsewhere on this machine counts.
export LUA_PATH="$prefix/share/lua/$version/?.lua;$prefix/share/lua/$version/?/init.lua"
export LUA_CPATH="$prefix/lib/lua/$version/?.so;/usr/lib/x86_64-linux-gnu/lua/$version/?.so;/usr/lib/aarch64-linux-gnu/lua/$version/?.so;/usr/local/lib/lua/$version/?.so"
export PATH="$prefix/bin:$PATH"
unset GPTIMAGE_LUA

lua=lua$( [ "$version" = 5.1 ] && echo jit || echo "$version")
# the runner the command and the Neovim helper share loads from the prefix
check "the shared runner is installed as gptimage.runner" \
  env PREFIX="$prefix" "$lua" -e '
    assert(package.searchpath("gptimage.runner", package.path):find(os.getenv("PREFIX"), 1, true))
    assert(require("gptimage.runner").new)'
check "the installed command is bin/gptimage itself, the same for every build" \
  cmp -s "$prefix/bin/gptimage" "$source/bin/gptimage"
out=$(gptimage --version 2>&1) || true
check "it finds the Lua whose module is installed (Lua $version): $out" \
  sh -c 'case "$1" in "gptimage "[0-9]*) exit 0;; *) exit 1;; esac' _ "$out"
out=$(GPTIMAGE_LUA=no-such-lua gptimage --version 2>&1) && code=0 || code=$?
check "without one it says so and exits 127" \
  sh -c '[ "$1" = 127 ] && case "$2" in *"no Lua here has the gptimage module"*) exit 0;; *) exit 1;; esac' _ "$code" "$out"

# bash: the installed script, called as bash-completion calls it.
complete_bash() { # the words typed; prints COMPREPLY one a line
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _gptimage; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$prefix/share/bash-completion/completions/gptimage" "$@"
}
has_line() { printf '%s\n' "$1" | grep -qx -- "$2"; }
check "bash completes commands" has_line "$(complete_bash gptimage ge)" generate
check "bash completes options" has_line "$(complete_bash gptimage generate --qu)" --quality
check "bash completes an option's values" has_line "$(complete_bash gptimage run --progress p)" plain
check "bash completes batch subcommands" has_line "$(complete_bash gptimage batch col)" collect
check "bash leaves manifests to file completion" test -z "$(complete_bash gptimage run sp)"
models=$(gptimage __complete 3 gptimage generate --model "" | tail -n +2)
expected=$("$lua" -e '
  for _, m in ipairs(require("gptimage.completion").models()) do print(m) end' 2>/dev/null || true)
check "the module's API table lists the default model" has_line "$expected" gpt-image-2.6-flare
check "model names come from the module's API table" test "$models" = "$expected"

if command -v zsh >/dev/null 2>&1; then
  check "the zsh completion parses" zsh -n "$prefix/share/zsh/site-functions/_gptimage"
  # zsh's completion system, loaded from the installed folder as fpath does
  out=$(zsh -fc '
    fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -D
    compadd() { shift; printf "%s\n" "$@"; }       # what would be offered
    _files() { echo "<files>"; }
    words=(gptimage generate --progress ""); CURRENT=4
    _gptimage' _ "$prefix/share/zsh/site-functions" 2>&1)
  check "zsh completes an option's values: $(echo $out)" has_line "$out" bar
else
  echo "# zsh not installed: zsh completion not checked"
fi

page="$prefix/share/man/man1/gptimage.1"
warnings=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >"$work/page.txt") || true
check "man renders gptimage(1) without a warning${warnings:+: $warnings}" test -z "$warnings"
for section in NAME SYNOPSIS COMMANDS "EXIT STATUS" ENVIRONMENT; do
  check "the man page has $section" grep -q "^$section" "$work/page.txt"
done
help_line=$(gptimage help run | sed -n '3p' | cut -c1-40)
check "the man page says what gptimage help says" grep -qF -- "$help_line" "$work/page.txt"

echo "install test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
