#!/bin/sh
# The mount side of contrib/systemd/vidgen.service, done by hand where
# systemd is not PID 1, for tests/e2e/deploy_systemd.sh: run as root inside
# `unshare --mount --uts --propagation private`, it sets up what the unit's
# options would, then runs CMD as USER with the unit's privileges.
#
#   deploy_harden.sh USER RWDIR [tunables|logs] -- CMD...
#
# ProtectSystem=strict (the OS read-only, RWDIR the writable data folder),
# ProtectHome=yes, PrivateDevices=yes, ProtectKernelModules=yes,
# ProtectControlGroups=yes; then User=, NoNewPrivileges=yes,
# CapabilityBoundingSet= (empty) and PrivateUsers=yes (a user namespace of
# the service's own). `tunables` or `logs` adds what ProtectKernelTunables=
# or ProtectKernelLogs= would mount over /proc, which the unit leaves out.
# The seccomp side (SystemCallFilter=, RestrictNamespaces=,
# RestrictAddressFamilies=) is checked from a trace instead.
set -eu
user=$1 rw=$2
shift 2
extra=""
if [ "$1" != "--" ]; then
	extra=$1
	shift
fi
shift

mount --bind "$rw" "$rw"
# PrivateDevices=: a /dev of its own with the few pseudo-devices.
hostdev=$(mktemp -d)
mount --bind /dev "$hostdev"
mount -t tmpfs -o mode=755,nosuid,noexec tmpfs /dev
for n in null zero full random urandom tty; do
	touch "/dev/$n"
	mount --bind "$hostdev/$n" "/dev/$n"
done
mkdir /dev/shm /dev/pts
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
umount -l "$hostdev"
rmdir "$hostdev"
# ProtectHome=: the homes are not there.
for d in /home /root /run/user; do
	[ -d "$d" ] && mount -t tmpfs -o ro,mode=755 tmpfs "$d"
done
# ProtectKernelModules= and ProtectControlGroups=.
[ -d /usr/lib/modules ] && mount -t tmpfs -o ro tmpfs /usr/lib/modules
mount --bind /sys/fs/cgroup /sys/fs/cgroup
mount -o remount,bind,ro /sys/fs/cgroup
case $extra in
tunables) # ProtectKernelTunables=: /proc/sys and friends read-only
	mount --bind /proc/sys /proc/sys
	mount -o remount,bind,ro /proc/sys ;;
logs) # ProtectKernelLogs=: /proc/kmsg made inaccessible
	mount --bind /dev/null /proc/kmsg ;;
esac
# ProtectSystem=strict: all of the OS read-only, the data folder not.
mount -o remount,bind,ro /
hostname vidgen-unit
exec setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups --no-new-privs \
	--inh-caps=-all --bounding-set=-all -- \
	unshare --user --map-current-user -- "$@"
