"""The checkpointer's IO-free core: key names, encodings, flows, and its Lua scripts."""
