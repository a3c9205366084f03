#!/usr/bin/env bash
# Installs what this project needs on a Debian machine: Debian packages it runs for real
# (tcpserver from ucspi-tcp) and the Python package with its test extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v tcpserver >/dev/null 2>&1 || missing+=(ucspi-tcp)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the HTML report's browser test
# docker: targets: Podman (its API service is started by harness/targets/engine.py with
# harness/images/containers.conf: runtime runc, netavark, ulimits that fit), catatonit for
# --init, debootstrap for the registry-free base image (python -m harness.images build ref)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
[ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
[ -x /usr/lib/podman/netavark ] || missing+=(netavark)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
# docker: targets on Docker Engine too (engine=docker): Debian's dockerd, which
# harness/targets/engine.py starts on /run/qmc-dockerd.sock when nothing answers on docker.sock
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)  # netavark's firewall
# category 10 (client interop): swaks, and the Perl modules its --tls and --auth use
command -v swaks >/dev/null 2>&1 || missing+=(swaks)
perl -MNet::SSLeay -e1 >/dev/null 2>&1 || missing+=(libnet-ssleay-perl)
perl -MAuthen::SASL -e1 >/dev/null 2>&1 || missing+=(libauthen-sasl-perl)
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: please install the Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v -e '^WARNING: Running pip as' || true
