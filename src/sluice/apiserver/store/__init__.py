"""Where the embedded cluster's objects live: storage, data directory, watch log, off-loop writes."""
