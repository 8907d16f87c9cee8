#!/usr/bin/env bash
# {{ service }}.{{ name }}: an Ayanami `cmd` function.
#
# Ayanami runs `bash {{ service }}/{{ name }}.sh ${{ input }}` once per call, from the
# project folder: the input `{{ input }}` is the first argument, whole, never
# seen by a shell; what this prints on stdout is the output `{{ output }}`. A
# non-zero exit fails the call with the end of stderr.
set -euo pipefail

{{ input }}="$1"
printf 'Hello %s' "${{ input }}"
