#!/bin/sh
# Read-only: the scorer builds kvsort.c exactly like this (fixed flags, one translation unit).
set -e
gcc -O2 -std=gnu11 -Wall -o kvsort kvsort.c
