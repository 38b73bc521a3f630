echo "interop: not yet"
