#!/bin/sh
# Read-only: the scorer builds sha.c exactly like this (fixed flags, one translation unit).
set -e
gcc -O2 -std=gnu11 -Wall -o sha sha.c
