#!/bin/bash

#set -x
set -e
set -u

usage()
{
cat <<EOF2
Usage:

$0 options

This script is used to do ********************.

OPTIONS:
	-f	Data file [NECESSARY]
	-z	Is there a header[Default TRUE]
EOF2
}

file=
header='TRUE'

while getopts "hf:z:" OPTION
do
	case $OPTION in
		h)
			usage
			exit 1
			;;
		f)
			file=$OPTARG
			;;
		z)
			header=$OPTARG
			;;
		?)
			usage
			exit 1
			;;
	esac
done

if [ -z $file ]; then
	usage
	exit 1
fi

cat <<END >$file
A
B
C
D
END
awk 'BEGIN{OFS=FS="\t"}{print $0, "53"}' $file >${file}.out
