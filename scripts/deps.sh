# Installs, from Debian's packages, the programs the example and the tests
# call (figlet, python3, nats-server, iproute2) when they are missing. Sourced by the
# other scripts.

ayanami_install_deps() {
    missing=""
    command -v figlet >/dev/null 2>&1 || missing="$missing figlet"
    command -v python3 >/dev/null 2>&1 || missing="$missing python3"
    command -v nats-server >/dev/null 2>&1 || missing="$missing nats-server"
    # `ip netns` makes the simulated hosts of the multi-host tests.
    command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing="$missing iproute2"
    python3 -m pip --version >/dev/null 2>&1 || missing="$missing python3-pip"
    [ -z "$missing" ] && return 0
    echo "installing:$missing" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
}

# The Python service example and its test speak NATS through nats-py (PyPI);
# the `ayanami build` tests validate manifests with kubernetes-validate, which
# brings PyYAML for the compose file's test; the metrics test parses /metrics
# with prometheus-client.
ayanami_install_python_deps() {
    if ! python3 -c 'import nats' 2>/dev/null; then
        echo "installing: nats-py (PyPI)" >&2
        python3 -m pip install --quiet nats-py 2>/dev/null ||
            python3 -m pip install --quiet --break-system-packages nats-py
    fi
    if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
        echo "installing: kubernetes-validate (PyPI)" >&2
        python3 -m pip install --quiet kubernetes-validate 2>/dev/null ||
            python3 -m pip install --quiet --break-system-packages kubernetes-validate
    fi
    if ! python3 -c 'import prometheus_client' 2>/dev/null; then
        echo "installing: prometheus-client (PyPI)" >&2
        python3 -m pip install --quiet prometheus-client 2>/dev/null ||
            python3 -m pip install --quiet --break-system-packages prometheus-client
    fi
}
