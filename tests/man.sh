#!/bin/bash
# The man pages: each renders with man-db and groff without a warning, no
# @PLACEHOLDER@ is left in them, and they name everything the code
# accepts (every config key, llmfbctl command, llmfbd option and
# x-llmfb-* header), so that they cannot fall behind it silently.
#
# usage: tests/man.sh BUILD_MAN_DIR
#   BUILD_MAN_DIR holds the pages with their placeholders filled in:
#   llmfbd.8 llmfbctl.8 llmfb.yaml.5 libllmfb.8
set -eu

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 BUILD_MAN_DIR" >&2
	exit 2
fi
MAN_DIR=$(cd "$1" && pwd)
cd "$(dirname "$0")/.."

PAGES="llmfbd.8 llmfbctl.8 llmfb.yaml.5 libllmfb.8"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
PASS=0
FAIL=0

pass() {
	PASS=$((PASS + 1))
	echo "ok - $1"
}
# fail WHAT [DETAIL...]: each detail on its own "#" line.
fail() {
	local line

	FAIL=$((FAIL + 1))
	echo "not ok - $1"
	shift
	for line in "$@"; do
		printf '#   %s\n' "$line"
	done
}

# The lines of a page that call a macro with .Ic or .Cm on them: where a
# key or a command is named as one, not merely mentioned in prose.
macro_lines() {	# page macros...
	local page=$1 re

	shift
	re=$(IFS='|'; echo "$*")
	grep -E '^\.' "$page" | grep -E "(^\.| )($re)( |$)" || true
}

# has WORD LINES: WORD stands alone (between blanks) on one of LINES.
has() {
	grep -Eq "(^| )$1( |$)" <<<"$2"
}

# ---- 1. every page renders without a warning ---------------------------

for p in $PAGES; do
	f=$MAN_DIR/$p
	if [ ! -f "$f" ]; then
		fail "$p renders" "no such file: $f"
		continue
	fi
	rc=0
	err=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l -Tutf8 "$f" \
	    2>&1 >"$OUT") || rc=$?
	lines=$(wc -l <"$OUT")
	if [ "$rc" -eq 0 ] && [ -z "$err" ] && [ "$lines" -gt 10 ]; then
		pass "$p renders without warnings"
	else
		mapfile -t detail <<<"$err"
		fail "$p renders without warnings (exit $rc, $lines lines)" \
		    "${detail[@]}"
	fi
done

# ---- 2. no placeholder is left -----------------------------------------

left=""
for p in $PAGES; do
	[ -f "$MAN_DIR/$p" ] || continue
	left+=$(grep -HnoE '@[A-Za-z_]+@' "$MAN_DIR/$p" || true)
	left+=$'\n'
done
mapfile -t detail < <(grep . <<<"$left" || true)
if [ "${#detail[@]}" -eq 0 ]; then
	pass "no @PLACEHOLDER@ left in the pages"
else
	fail "no @PLACEHOLDER@ left in the pages" "${detail[@]}"
fi

# ---- 3. coverage ------------------------------------------------------

# Every key daemon/config.c accepts: its key tables
# ("static const char *const NAME[] = { "a", "b", ..., NULL };", which
# check_keys() and is_policy_key() take, over one or more lines) and the
# route keys load_route() compares one by one (strcmp(k, "name")).
config_keys() {
	{
		awk '/static const char [*]const [a-z_]+[[][]] = [{]/ { on = 1 }
		    on { print }
		    on && /NULL *[}];/ { on = 0 }' daemon/config.c |
		    grep -oE '"[a-z0-9_]+"' || true
		grep -oE 'strcmp\(k, "[a-z0-9_]+"\)' daemon/config.c |
		    grep -oE '"[a-z0-9_]+"' || true
	} | tr -d '"' | sort -u
}

# covers PAGE NOUN MIN ITEMS SOURCE MACRO...: each of ITEMS (at least MIN
# of them, as read from SOURCE) is named on a line of PAGE calling one of
# the MACROs.
covers() {
	local page=$MAN_DIR/$1 noun=$2 min=$3 items=$4 source=$5 n i
	local lines missing="" macros

	shift 5
	macros="$*"
	n=$(wc -w <<<"$items")
	if [ "$n" -lt "$min" ]; then
		fail "$(basename "$page") names every $noun" \
		    "only $n extracted from $source: has the way it lists" \
		    "them changed? fix the extraction in $0"
	elif [ ! -f "$page" ]; then
		fail "$(basename "$page") names every $noun" \
		    "no such file: $page"
	else
		lines=$(macro_lines "$page" "$@")
		for i in $items; do
			has "$i" "$lines" || missing+=" $i"
		done
		if [ -z "$missing" ]; then
			pass "$(basename "$page") names all $n ${noun}s"
		else
			fail "$(basename "$page") names every $noun" \
			    "not named with .${macros// / or .}:$missing"
		fi
	fi
}

covers llmfb.yaml.5 "config key" 40 "$(config_keys)" daemon/config.c Ic Cm

# Every command in llmfbctl's table, "{ CTL_VERB_STATUS, cmd_status, true }"
# or "{ "top", cmd_top, false }"; the verbs are #defined in ctl_proto.h.
ctl_commands() {
	local name verb

	awk '/commands\[\] = [{]/ { on = 1; next }
	    on && /^[}];/ { on = 0 }
	    on' ctl/llmfbctl.c |
	    sed -n 's/^[[:space:]]*{[[:space:]]*\([^,[:space:]]*\),.*/\1/p' |
	    while read -r name; do
		case $name in
		\"*\")
			echo "${name//\"/}"
			;;
		CTL_VERB_*)
			verb=$(sed -n "s/^#define[[:space:]]*${name}[[:space:]]*\"\\(.*\\)\"/\\1/p" \
			    common/ctl_proto.h)
			echo "${verb:-?$name}"
			;;
		*)
			echo "?$name"
			;;
		esac
	    done
}

cmds=$(ctl_commands)
bad=$(grep -E '^\?' <<<"$cmds" || true)
if [ -n "$bad" ]; then
	fail "llmfbctl.8 names every command" \
	    "unresolved in ctl/llmfbctl.c's command table: $bad"
else
	covers llmfbctl.8 command 10 "$cmds" ctl/llmfbctl.c Cm Ic
fi

# Every option letter of llmfbd's getopt string.
page=$MAN_DIR/llmfbd.8
optstring=$(grep -oE 'getopt(_long)?\([^"]*"[^"]*"' daemon/main.c |
    sed 's/.*"\([^"]*\)"$/\1/' | tr -d ':+-' || true)
letters=$(grep -o . <<<"$optstring" | sort -u || true)
nletters=$(wc -w <<<"$letters")
if [ "$nletters" -lt 4 ]; then
	fail "llmfbd.8 names every option" \
	    "only $nletters option letters found in daemon/main.c's getopt" \
	    "string: fix the extraction in $0"
elif [ ! -f "$page" ]; then
	fail "$(basename "$page") names what the code accepts" \
	    "no such file: $page"
else
	lines=$(grep -E '^\.' "$page")
	missing=""
	for l in $letters; do
		grep -Eq "(^\.| )Fl $l( |$)" <<<"$lines" || missing+=" -$l"
	done
	if [ -z "$missing" ]; then
		pass "llmfbd.8 names all $nletters options ($(tr -d '\n' \
		    <<<"$letters"))"
	else
		fail "llmfbd.8 names every option" "no .Fl for:$missing"
	fi
fi

# Every x-llmfb-* header README.md names, in one of the pages that
# describe what a caller sees.
headers=$(grep -oiE 'x-llmfb-[a-z-]*[a-z]' README.md |
    tr '[:upper:]' '[:lower:]' | sort -u || true)
nheaders=$(wc -w <<<"$headers")
if [ "$nheaders" -lt 8 ]; then
	fail "the pages name every x-llmfb- header" \
	    "only $nheaders headers found in README.md: fix the extraction" \
	    "in $0"
else
	missing=""
	for h in $headers; do
		found=no
		for p in llmfbd.8 libllmfb.8 llmfb.yaml.5; do
			if [ -f "$MAN_DIR/$p" ] &&
			    grep -qiF -- "$h" "$MAN_DIR/$p"; then
				found=yes
				break
			fi
		done
		[ "$found" = yes ] || missing+=" $h"
	done
	if [ -z "$missing" ]; then
		pass "the pages name all $nheaders x-llmfb- headers"
	else
		fail "the pages name every x-llmfb- header" \
		    "in none of llmfbd.8, libllmfb.8, llmfb.yaml.5:$missing"
	fi
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
