# The Debian package (sourced by run.sh; `deb_cases` runs them):
#   a. `make deb` builds it and lintian reports no error;
#   b. what it holds: programs, the private shim, man pages, units, the
#      config as a conffile, Depends on adduser;
#   c. its maintainer scripts: the user made, nothing enabled or started,
#      purge removes the user and the state; their systemd snippets run
#      against a stand-in systemctl (no systemd in a container): install
#      starts nothing, upgrade restarts llmfbd.service (never the socket,
#      which keeps calls queued), remove stops both;
#   d. installed for real: the system user, the directories, nothing
#      enabled, /etc/ld.so.preload untouched, llmfbd checks the config,
#      man finds the page;
#   e. upgraded to a second version: the operator's edit of the config is
#      kept, the user too;
#   f. purged: nothing of it left.
# a-c run as any user, without systemd; d-f need root, and are skipped on
# a machine where llmfb is installed already (or where its paths or user
# exist without it): they never touch a real installation.  The machine
# is left as it was, whatever fails: the package is purged on the way out
# (an EXIT trap covers an interruption) and directories that were there
# before, empty, are put back.
#
# If the shell function deb_installed_hook is defined, it is called with
# "installed" after d and "upgraded" after e, with the package installed.

DEB_FILE=""		# the .deb `make deb` made
DEB_WORK=""		# scratch: extracted control files, the repacked .deb
DEB_OURS=""		# set once dpkg -i ran: the package is ours to purge
DEB_USER_OURS=""	# the llmfb user and group did not exist before
DEB_KEEP_DIRS=""	# "path:mode:uid:gid ..." of empty dirs there before
DEB_PRELOAD_SUM=""	# /etc/ld.so.preload's checksum before, or "absent"
DEB_OLD_TRAP=""

# The state directories the package makes and its purge removes.
DEB_STATE_DIRS="/var/lib/llmfb /var/log/llmfb /run/llmfb"

deb_preload_sum() {
	if [ -e /etc/ld.so.preload ]; then
		sha256sum </etc/ld.so.preload | cut -d' ' -f1
	else
		echo absent
	fi
}

# deb_status: dpkg's idea of the package: "installed", "config-files"...,
# or "not-installed".
deb_status() {
	local s
	s=$(dpkg-query -W -f='${db:Status-Status}' llmfb 2>/dev/null)
	echo "${s:-not-installed}"
}

deb_show() {	# TEXT: indented, for a failure's context
	sed 's/^/#   /' <<<"$1" | tail -n "${2:-40}"
}

# ---- a: build --------------------------------------------------------------

deb_t_build() {
	local out rc=0 t0=$SECONDS
	out=$(make --no-print-directory B="$B" deb 2>&1) || rc=$?
	DEB_FILE=$(tail -n 1 <<<"$out")
	expect_eq make-deb-exit "$rc" 0
	expect_match deb-path "$DEB_FILE" '^/.*/llmfb_[^/]*\.deb$'
	[ -f "$DEB_FILE" ] || ERRS="$ERRS; no .deb at '$DEB_FILE'"
	# mkdeb.sh fails on a lintian error; look at its output too.
	expect_eq lintian-errors "$(grep -c '^E: ' <<<"$out")" 0
	if [ "$rc" != 0 ] || [ -n "$ERRS" ]; then
		echo "# make deb said:"
		deb_show "$out"
		DEB_FILE=""
	elif grep -q '^[WE]: ' <<<"$out"; then
		echo "# lintian:"
		grep '^[WE]: ' <<<"$out" | sed 's/^/#   /'
	fi
	echo "# deb: make deb took $((SECONDS - t0))s"
	finish "deb: make deb builds the package, lintian reports no error"
}

# ---- b: contents -------------------------------------------------------------

deb_t_contents() {
	local list ma f dep
	list=$(dpkg-deb -c "$DEB_FILE" | awk '{ print $6 }' | sed 's|^\./|/|')
	ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
	for f in /usr/sbin/llmfbd /usr/bin/llmfbctl \
	    "/usr/lib/$ma/llmfb/libllmfb.so" \
	    /usr/share/man/man5/llmfb.yaml.5.gz \
	    /usr/share/man/man8/llmfbd.8.gz /usr/share/man/man8/llmfbctl.8.gz \
	    /usr/share/man/man8/libllmfb.8.gz \
	    /lib/systemd/system/llmfbd.service /lib/systemd/system/llmfbd.socket \
	    /etc/llmfb/llmfb.yaml /usr/share/doc/llmfb/copyright \
	    /etc/logrotate.d/llmfb \
	    /usr/share/bash-completion/completions/llmfbctl \
	    /usr/share/bash-completion/completions/llmfbd; do
		grep -qxF "$f" <<<"$list" || ERRS="$ERRS; $f is not in the package"
	done
	# The shim is private: not in a directory the dynamic linker searches.
	expect_eq no-public-shim \
	    "$(grep -cE "^/(usr/)?lib/($ma/)?libllmfb" <<<"$list")" 0
	rm -rf "$DEB_WORK/ctl"
	dpkg-deb -e "$DEB_FILE" "$DEB_WORK/ctl"
	expect_eq conffiles "$(sort "$DEB_WORK/ctl/conffiles" 2>/dev/null |
	    paste -sd' ')" "/etc/llmfb/llmfb.yaml /etc/logrotate.d/llmfb"
	dep=$(dpkg-deb -f "$DEB_FILE" Depends)
	expect_match depends-adduser "$dep" '(^|, )adduser(,|$| )'
	expect_match depends-libs "$dep" 'libcurl4.*libjansson4'
	expect_eq architecture "$(dpkg-deb -f "$DEB_FILE" Architecture)" \
	    "$(dpkg-architecture -qDEB_HOST_ARCH)"
	finish "deb: programs, private shim, man pages, units, logrotate, completion, conffiles, Depends"
}

# ---- c: maintainer scripts ---------------------------------------------------

# deb_script NAME: a maintainer script with its continued lines joined.
deb_script() {
	sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' "$DEB_WORK/ctl/$1" \
	    2>/dev/null
}

deb_t_scripts() {
	local pi pr pm
	pi=$(deb_script postinst)
	pr=$(deb_script prerm)
	pm=$(deb_script postrm)
	expect_match postinst-adduser "$pi" \
	    'adduser --system --group --home /var/lib/llmfb [^'$'\n'']*llmfb'
	expect_match postinst-state-dirs "$pi" 'install -d -o llmfb -g llmfb -m 0750'
	# Installing enables nothing: debhelper's --no-enable snippet, which
	# re-enables a unit only if it was enabled before, once per unit.
	expect_eq enable-only-if-was-enabled \
	    "$(grep -c 'deb-systemd-helper enable' <<<"$pi")" \
	    "$(grep -c 'deb-systemd-helper --quiet was-enabled' <<<"$pi")"
	expect_eq no-first-install-enable \
	    "$(grep -c -e 'Enables the unit on first installation' \
	    -e 'systemctl.* enable' -e 'systemctl.* start' <<<"$pi")" 0
	# Starting goes through deb-systemd-invoke, which starts no unit that
	# is not enabled; after an upgrade the service alone is restarted.
	expect_match service-restart-on-upgrade "$pi" \
	    "_dh_action=restart.*deb-systemd-invoke \\\$_dh_action 'llmfbd.service'"
	expect_eq socket-never-restarted \
	    "$(grep -c "restart.*llmfbd.socket" <<<"$pi")" 0
	expect_match prerm-stops-service "$pr" \
	    "deb-systemd-invoke stop 'llmfbd.service'"
	expect_match prerm-stops-socket "$pr" \
	    "deb-systemd-invoke stop 'llmfbd.socket'"
	expect_match postrm-purge-dirs "$pm" \
	    'rm -rf /var/lib/llmfb /var/log/llmfb /run/llmfb'
	expect_match postrm-deluser "$pm" 'deluser --system --quiet llmfb'
	expect_match postrm-delgroup "$pm" 'delgroup --system --quiet llmfb'
	expect_match postrm-purge-units "$pm" \
	    "deb-systemd-helper purge 'llmfbd.socket'.*deb-systemd-helper purge 'llmfbd.service'"
	finish "deb: maintainer scripts: user made, nothing enabled or started, purge cleans"
}

# deb_sim SCRIPT ENABLED ACTIVE ARGS...: the systemd actions the debhelper
# snippets of maintainer script SCRIPT take when run with ARGS, on a
# machine running systemd where the units ENABLED are enabled and ACTIVE
# running.  The snippets run as built, with the real deb-systemd-invoke,
# against a stand-in systemctl; only two things are pointed elsewhere:
# the "is systemd running" directory, and (through DPKG_ROOT, which only
# deb-systemd-invoke sees) the policy-rc.d a container may have.
deb_sim() {
	local script=$1 en=$2 act=$3 sim=$DEB_WORK/sim code
	shift 3
	mkdir -p "$sim/bin" "$sim/root" "$sim/systemd-running"
	cat >"$sim/bin/systemctl" <<-'EOF2'
	#!/bin/sh
	args=""
	for a; do case $a in -*) ;; *) args="$args $a" ;; esac; done
	set -- $args
	case $1 in
	is-enabled)
		case " $SIM_ENABLED " in *" $2 "*) echo enabled; exit 0 ;; esac
		echo disabled; exit 1 ;;
	is-active)
		case " $SIM_ACTIVE " in *" $2 "*) exit 0 ;; esac
		exit 3 ;;
	daemon-reload) ;;
	*) echo "$*" >>"$SIM_LOG" ;;
	esac
	EOF2
	chmod +x "$sim/bin/systemctl"
	code=$(awk '/^# Automatically added by dh_installsystemd/ { b = ""; on = 1 }
	    on { b = b $0 "\n" }
	    /^# End automatically added section/ {
		if (on && b ~ /deb-systemd-invoke/) printf "%s", b; on = 0 }' \
	    "$DEB_WORK/ctl/$script")
	code=${code//\/run\/systemd\/system/$sim/systemd-running}
	code=${code//deb-systemd-invoke/DPKG_ROOT=$sim/root deb-systemd-invoke}
	: >"$sim/log"
	SIM_ENABLED=$en SIM_ACTIVE=$act SIM_LOG=$sim/log PATH="$sim/bin:$PATH" \
	    sh -c "$code" "$script" "$@" >/dev/null 2>&1
	tr '\n' ';' <"$sim/log"
}

deb_t_systemd() {
	local both="llmfbd.service llmfbd.socket"
	expect_eq install-starts-nothing "$(deb_sim postinst "" "" configure "")" ""
	expect_eq upgrade-enabled-running \
	    "$(deb_sim postinst "$both" "$both" configure 0.1.0)" \
	    "restart llmfbd.service;start llmfbd.socket;"
	expect_eq upgrade-started-by-hand \
	    "$(deb_sim postinst "" "$both" configure 0.1.0)" \
	    "restart llmfbd.service;"
	expect_eq upgrade-disabled-stopped \
	    "$(deb_sim postinst "" "" configure 0.1.0)" ""
	expect_eq remove-stops-both "$(deb_sim prerm "$both" "$both" remove)" \
	    "stop llmfbd.socket;stop llmfbd.service;"
	expect_eq upgrade-stops-nothing \
	    "$(deb_sim prerm "$both" "$both" upgrade 0.1.0+1)" ""
	finish "deb: systemd snippets (stand-in systemctl): install starts nothing; upgrade restarts llmfbd.service, never the socket; remove stops both"
}

# ---- d-f: install, upgrade, purge --------------------------------------------

# deb_can_install: empty when d-f may run, else why not.
deb_can_install() {
	local d
	if [ "$(id -u)" != 0 ]; then
		echo "needs root"
		return
	fi
	if [ "$(deb_status)" != not-installed ]; then
		echo "a package llmfb is on this machine ($(deb_status)): not touched"
		return
	fi
	if [ -e /etc/llmfb ]; then
		echo "/etc/llmfb exists and is no package's: not touched"
		return
	fi
	if getent passwd llmfb >/dev/null || getent group llmfb >/dev/null; then
		echo "a user or group llmfb exists already: purge would remove it"
		return
	fi
	for d in $DEB_STATE_DIRS; do
		if [ -e "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ]; then
			echo "$d holds files: purge would remove them"
			return
		fi
	done
}

deb_install_begin() {
	local d
	DEB_KEEP_DIRS=""
	# An empty state directory that is there before (an llmfbd run by
	# hand makes one): purge removes it, deb_cleanup puts it back.
	for d in $DEB_STATE_DIRS; do
		[ -d "$d" ] &&
		    DEB_KEEP_DIRS="$DEB_KEEP_DIRS $d:$(stat -c '%a:%u:%g' "$d")"
	done
	DEB_PRELOAD_SUM=$(deb_preload_sum)
	DEB_USER_OURS=1
	DEB_OLD_TRAP=$(trap -p EXIT)
	trap 'deb_cleanup; rm -rf "$DEB_WORK"; deb_old_trap_run' EXIT
}

deb_old_trap_run() {
	local t=${DEB_OLD_TRAP#trap -- }
	t=${t% EXIT}
	[ -n "$t" ] || return 0
	eval "t=$t"
	eval "$t"
}

# deb_cleanup: purge what is ours, put back what was there.  Runs after
# f, and from the EXIT trap if the run stops half way.
deb_cleanup() {
	local e d mode uid gid
	if [ -n "$DEB_OURS" ] && [ "$(deb_status)" != not-installed ]; then
		dpkg --purge llmfb >/dev/null 2>&1 ||
		    echo "# deb: dpkg --purge llmfb failed in the cleanup"
	fi
	DEB_OURS=""
	if [ -n "$DEB_USER_OURS" ]; then
		getent passwd llmfb >/dev/null && userdel llmfb 2>/dev/null
		getent group llmfb >/dev/null && groupdel llmfb 2>/dev/null
		DEB_USER_OURS=""
	fi
	for e in $DEB_KEEP_DIRS; do
		IFS=: read -r d mode uid gid <<<"$e"
		[ -e "$d" ] || install -d -m "$mode" -o "$uid" -g "$gid" "$d"
	done
	DEB_KEEP_DIRS=""
}

deb_install_end() {
	deb_cleanup
	if [ -n "$DEB_OLD_TRAP" ]; then
		eval "$DEB_OLD_TRAP"
	else
		trap - EXIT
	fi
}

# deb_account NAME: "uid gid shell" of a user.
deb_account() { getent passwd "$1" | awk -F: '{ print $3, $4, $7 }'; }

deb_t_install() {
	local out rc=0 uid gid shell st
	out=$(dpkg -i "$DEB_FILE" </dev/null 2>&1) || rc=$?
	DEB_OURS=1
	expect_eq dpkg-i-exit "$rc" 0
	expect_eq status "$(deb_status)" installed
	read -r uid gid shell <<<"$(deb_account llmfb)"
	expect_match user "${uid:-none}" '^[0-9]+$'
	expect_lt system-uid "${uid:-1000}" 1000
	expect_ge not-root "${uid:-0}" 1
	expect_lt system-gid "${gid:-1000}" 1000
	expect_match nologin-shell "${shell:-}" '/(nologin|false)$'
	expect_eq group "$(getent group llmfb | cut -d: -f3)" "${gid:-none}"
	expect_eq home "$(getent passwd llmfb | cut -d: -f6)" /var/lib/llmfb
	for st in /var/lib/llmfb /var/log/llmfb; do
		expect_eq "$st" "$(stat -c '%U:%G %a' "$st" 2>&1)" "llmfb:llmfb 750"
	done
	# Nothing enabled, by systemctl's links or deb-systemd-helper's.
	expect_eq wants-links \
	    "$(compgen -G '/etc/systemd/system/*.wants/llmfbd*' | wc -l)" 0
	expect_eq dsh-links "$(find /var/lib/systemd/deb-systemd-helper-enabled \
	    -name 'llmfbd*' -type l 2>/dev/null | wc -l)" 0
	# deb-systemd-helper answers only "from dpkg"; its state knows the
	# units (the --no-enable snippet ran) and says neither is enabled.
	for st in llmfbd.service llmfbd.socket; do
		expect_eq "dsh-$st" "$(DPKG_MAINTSCRIPT_PACKAGE=llmfb \
		    deb-systemd-helper is-enabled "$st" 2>&1)" disabled
		expect_eq "dsh-state-$st" "$(DPKG_MAINTSCRIPT_PACKAGE=llmfb \
		    deb-systemd-helper debian-installed "$st"; echo $?)" 0
	done
	expect_eq service-is-enabled "$(systemctl is-enabled llmfbd.service 2>&1)" \
	    disabled
	expect_eq socket-is-enabled "$(systemctl is-enabled llmfbd.socket 2>&1)" \
	    disabled
	expect_eq ld.so.preload "$(deb_preload_sum)" "$DEB_PRELOAD_SUM"
	expect_match config-check \
	    "$(/usr/sbin/llmfbd -n -c /etc/llmfb/llmfb.yaml 2>&1)" 'configuration OK'
	if command -v logrotate >/dev/null; then
		expect_eq logrotate-d "$(logrotate -d /etc/logrotate.d/llmfb 2>&1 |
		    grep -ci 'error')" 0
	fi
	expect_eq man-page "$(man -w llmfbd 2>&1)" /usr/share/man/man8/llmfbd.8.gz
	expect_eq man-page-5 "$(man -w 5 llmfb.yaml 2>&1)" \
	    /usr/share/man/man5/llmfb.yaml.5.gz
	[ -z "$ERRS" ] || deb_show "$out" 20
	finish "deb: dpkg -i: system user llmfb, state dirs, nothing enabled, config OK"
	if declare -F deb_installed_hook >/dev/null; then
		deb_installed_hook installed
	fi
}

deb_t_upgrade() {
	local conf=/etc/llmfb/llmfb.yaml sum uid v2 out rc=0
	v2="$(dpkg-deb -f "$DEB_FILE" Version)+test1"
	echo "# edited by tests/e2e/deb.sh: an upgrade keeps this line" >>"$conf"
	sum=$(sha256sum <"$conf")
	uid=$(id -u llmfb 2>/dev/null)
	rm -rf "$DEB_WORK/repack"
	dpkg-deb -R "$DEB_FILE" "$DEB_WORK/repack"
	sed -i "s/^Version: .*/Version: $v2/" "$DEB_WORK/repack/DEBIAN/control"
	dpkg-deb -Zgzip -b "$DEB_WORK/repack" "$DEB_WORK/llmfb_v2.deb" >/dev/null
	out=$(dpkg -i "$DEB_WORK/llmfb_v2.deb" </dev/null 2>&1) || rc=$?
	expect_eq dpkg-i-exit "$rc" 0
	expect_eq version "$(dpkg-query -W -f='${Version}' llmfb)" "$v2"
	expect_eq status "$(deb_status)" installed
	expect_eq config-kept "$(sha256sum <"$conf")" "$sum"
	expect_eq uid-kept "$(id -u llmfb 2>/dev/null)" "$uid"
	expect_eq state-dir "$(stat -c '%U:%G %a' /var/lib/llmfb 2>&1)" \
	    "llmfb:llmfb 750"
	expect_eq wants-links \
	    "$(compgen -G '/etc/systemd/system/*.wants/llmfbd*' | wc -l)" 0
	expect_eq ld.so.preload "$(deb_preload_sum)" "$DEB_PRELOAD_SUM"
	[ -z "$ERRS" ] || deb_show "$out" 20
	finish "deb: upgrade to $v2 keeps the edited config and the user"
	if declare -F deb_installed_hook >/dev/null; then
		deb_installed_hook upgraded
	fi
}

deb_t_purge() {
	local files out rc=0 f left=""
	files=$(dpkg -L llmfb 2>/dev/null)
	out=$(dpkg --purge llmfb </dev/null 2>&1) || rc=$?
	expect_eq dpkg-purge-exit "$rc" 0
	expect_eq status "$(deb_status)" not-installed
	for f in /etc/llmfb $DEB_STATE_DIRS; do
		[ -e "$f" ] && left="$left $f"
	done
	# Every file of the package, and every directory named for it.
	while IFS= read -r f; do
		case $f in
		/.|"") continue ;;
		esac
		if [ -e "$f" ] || [ -L "$f" ]; then
			if [ ! -d "$f" ] || [[ $f == *llmfb* ]]; then
				left="$left $f"
			fi
		fi
	done <<<"$files"
	expect_eq left-behind "${left:- none}" " none"
	expect_ge files-listed "$(wc -l <<<"$files")" 10
	expect_eq user "$(getent passwd llmfb)" ""
	expect_eq group "$(getent group llmfb)" ""
	expect_eq dsh-state "$(find /var/lib/systemd/deb-systemd-helper-enabled \
	    -name 'llmfbd*' 2>/dev/null | wc -l)" 0
	expect_eq ld.so.preload "$(deb_preload_sum)" "$DEB_PRELOAD_SUM"
	[ -z "$ERRS" ] || deb_show "$out" 20
	finish "deb: purge removes the package, its config, state, user and group"
}

deb_cases() {
	local t0=$SECONDS why c
	# Under run.sh's stack directory when there is one: gone with it.
	DEB_WORK=$(mktemp -d "${STACK_DIR:-${TMPDIR:-/tmp}}/llmfb-deb.XXXXXX")
	deb_t_build
	if [ -z "$DEB_FILE" ]; then
		for c in contents scripts systemd install upgrade purge; do
			skip "deb_t_$c" "no package built"
		done
		rm -rf "$DEB_WORK"
		return
	fi
	deb_t_contents
	deb_t_scripts
	deb_t_systemd
	why=$(deb_can_install)
	if [ -n "$why" ]; then
		for c in install upgrade purge; do
			skip "deb_t_$c" "$why"
		done
	else
		deb_install_begin
		deb_t_install
		deb_t_upgrade
		deb_t_purge
		deb_install_end
	fi
	rm -rf "$DEB_WORK"
	echo "# deb: $((SECONDS - t0))s"
}
