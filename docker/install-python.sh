#!/bin/sh
# Makes Python 3.11 (with venv) available on a Debian or Ubuntu base image, e.g. a CUDA runtime
# image (--build-arg BASE_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04). On an image that
# already has it (python:3.11-slim-bookworm, the default) it does nothing.
set -eu

if command -v python3.11 >/dev/null 2>&1 && python3.11 -c "import ensurepip, venv" >/dev/null 2>&1; then
    python3.11 --version
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-python.sh: no python3.11 and no apt-get in this base image; use a Debian/Ubuntu image or one with Python 3.11" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
if ! apt-cache show python3.11-venv >/dev/null 2>&1; then
    # Ubuntu releases without Python 3.11 in their archive (24.04): the deadsnakes PPA.
    . /etc/os-release
    if [ "${ID:-}" != "ubuntu" ]; then
        echo "install-python.sh: ${PRETTY_NAME:-this image} has no python3.11 package; use a base image with Python 3.11" >&2
        exit 1
    fi
    apt-get install -y --no-install-recommends ca-certificates gpg gpg-agent software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
fi
apt-get install -y --no-install-recommends ca-certificates python3.11 python3.11-venv
rm -rf /var/lib/apt/lists/*
python3.11 --version
