# shellcheck shell=bash
# Shared by the test and benchmark scripts (sourced, not run).

# Prints a TCP port of 127.0.0.1 that nothing listens on right now: the
# kernel's pick (bind to port 0) when python3 is there, else a probed
# random port of the dynamic range.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
        return
    fi
    local port i
    for ((i = 0; i < 50; i++)); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    return 1
}
