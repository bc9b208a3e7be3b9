#!/bin/bash
# Second step of the seed's ct2 DAG: reads what run1.sh wrote.
set -e
set -u
file=
while getopts "f:" OPTION; do
	case $OPTION in
		f) file=$OPTARG ;;
		?) exit 1 ;;
	esac
done
test -s "${file}.out"
wc -l < "${file}.out" > "${file}.count"
cat "${file}.count"
