#!/usr/bin/python3
"""A stand-in for systemd's socket activation and notification, for tests.

    activate.py SOCKET LOG [--name NAME] [--restarts N] [--watchdog USEC]
                [--start-on FILE] [--hold] -- COMMAND ARGS...

Binds a listening Unix socket at SOCKET (mode 0666) and keeps it for its
whole life, as llmfbd.socket does.  Starts COMMAND with the socket as fd 3
and LISTEN_FDS=1, LISTEN_PID (the command's own pid), LISTEN_FDNAMES=NAME
and NOTIFY_SOCKET (a datagram socket of its own), like systemd.  When the
command exits it is started again, up to N times (Restart=).  Every event
is a line in LOG: "start PID", "notify PID <message, newlines as |>",
"exit PID STATUS", "done".  SIGTERM ends it: the command gets SIGTERM too.
--start-on FILE: the command starts once FILE exists, so that a test can
queue connections in the socket first, as they queue while the service
is not running.  --hold: the socket stays after the last exit, until
SIGTERM, as systemd keeps a socket unit's socket when its service failed.
"""
import os
import select
import time
import signal
import socket
import subprocess
import sys


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    opts, cmd = args[:sep], args[sep + 1:]
    path, log_path = opts[0], opts[1]
    name, restarts, watchdog, start_on = "data", 0, None, None
    hold = False
    i = 2
    while i < len(opts):
        if opts[i] == "--name":
            name = opts[i + 1]
        elif opts[i] == "--restarts":
            restarts = int(opts[i + 1])
        elif opts[i] == "--watchdog":
            watchdog = opts[i + 1]
        elif opts[i] == "--start-on":
            start_on = opts[i + 1]
        elif opts[i] == "--hold":
            hold = True
            i -= 1
        i += 2

    if os.path.exists(path):
        os.unlink(path)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    os.chmod(path, 0o666)
    lsock.listen(1024)
    os.dup2(lsock.fileno(), 3)
    os.set_inheritable(3, True)
    log = open(log_path, "a", buffering=1)    # after: fd 3 is taken

    npath = path + ".notify"
    if os.path.exists(npath):
        os.unlink(npath)
    nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    nsock.bind(npath)
    os.chmod(npath, 0o666)      # the command may run as another user

    env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES=name,
               NOTIFY_SOCKET=npath)
    if watchdog:
        env["WATCHDOG_USEC"] = watchdog
    child = None
    stop = False

    def on_term(signo, frame):
        nonlocal stop
        stop = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, on_term)

    def start():
        # LISTEN_PID must be the command's pid: the shell sets it to its
        # own and then becomes the command.
        p = subprocess.Popen(
            ["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$@"', "sh"] + cmd,
            env=env, pass_fds=(3,))
        log.write("start %d\n" % p.pid)
        return p

    while start_on is not None and not os.path.exists(start_on):
        time.sleep(0.02)
    child = start()
    while True:
        try:
            r, _, _ = select.select([nsock], [], [], 0.05)
        except InterruptedError:
            r = []
        if r:
            msg = nsock.recv(4096).decode(errors="replace")
            log.write("notify %d %s\n" % (child.pid,
                                          msg.strip().replace("\n", "|")))
        st = child.poll()
        if st is None:
            continue
        while True:     # what it said last, before its exit line
            r, _, _ = select.select([nsock], [], [], 0)
            if not r:
                break
            msg = nsock.recv(4096).decode(errors="replace")
            log.write("notify %d %s\n" % (child.pid,
                                          msg.strip().replace("\n", "|")))
        log.write("exit %d %d\n" % (child.pid, st))
        if stop or restarts <= 0:
            while hold and not stop:
                signal.pause()
            break
        restarts -= 1
        child = start()
    log.write("done\n")


if __name__ == "__main__":
    main()
