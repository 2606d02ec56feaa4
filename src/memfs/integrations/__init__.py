"""memfs behind other people's interfaces: `memory_tool` backs the anthropic SDK's client-side
memory tool (`memory_20250818`) with a memfs store."""
