# Sourced by the bench scripts: the cores for server and load generator,
# and helpers to wait for a server and to stop one.
#
# SERVER_CPU (default 0) runs the server, all its threads; LOADGEN_CPU
# (default 1) the load generator. On the project's VMs CPU 1 takes every
# block-device interrupt (/proc/interrupts: virtio1-req), which puts spikes
# into whatever runs there, so by default the server gets the quiet core.
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
T=target/release

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# stop PID: SIGTERM (a ringworker server drains and writes its --stats-out),
# then wait until the process is gone (SIGKILL after 10 s). The servers are
# started in command substitutions, so they are not this shell's children
# and `wait` would return at once: the next run would overlap the draining.
stop() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$1" 2>/dev/null || true
}
