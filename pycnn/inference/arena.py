"""The arena: one float32 buffer holding every value of a planned network, each at an offset chosen
so that values whose lifetimes overlap never share memory (TFLite's and onnxruntime's static memory
plans work this way).

Walking the steps in order: a step's outputs get memory before its inputs are released (a kernel
never writes over what it reads), except an in-place step, whose output takes its first input's
buffer when no later step reads that buffer; a view shares its input's buffer. A buffer is released
after the last step that reads it or any of its views; graph inputs are copied in and outputs copied
out, so they take part like any other value, except that outputs are never released. Released blocks
are reused best-fit and merged with free neighbours.
"""
ALIGN = 16  # floats: 64 bytes, one cache line and one AVX-512 register


def _aligned(count):
    return max(ALIGN, -(-count // ALIGN) * ALIGN)


class _Blocks:
    """Free blocks of the arena, best-fit, merged with free neighbours; the arena grows at its end."""

    def __init__(self):
        self.free, self.end, self.high = [], 0, 0  # free: sorted [(offset, size)]; high: the arena's size

    def take(self, size):
        fits = [(s, o) for o, s in self.free if s >= size]
        if not fits:
            offset, self.end = self.end, self.end + size
            self.high = max(self.high, self.end)
            return offset
        s, o = min(fits)
        self.free.remove((o, s))
        if s > size:
            self.free.append((o + size, s - size))
            self.free.sort()
        return o

    def give(self, offset, size):
        self.free.append((offset, size))
        self.free.sort()
        merged = []
        for o, s in self.free:
            if merged and merged[-1][0] + merged[-1][1] == o:
                merged[-1] = (merged[-1][0], merged[-1][1] + s)
            else:
                merged.append((o, s))
        if merged and merged[-1][0] + merged[-1][1] == self.end:  # a free tail: the arena may grow there
            self.end = merged.pop()[0]
        self.free = merged


def plan_arena(steps, inputs, outputs, sizes):
    """Returns ({value: offset}, arena size in floats).

    steps: [(reads, writes, inplace, view)] in running order, value names; inputs, outputs: the graph's;
    sizes: {value: float count} of every value the arena holds."""
    last_read = {}
    for index, (reads, _, _, _) in enumerate(steps):
        for name in reads:
            last_read[name] = index
    blocks, offsets = _Blocks(), {}
    buffer_of, extent, live_until = {}, {}, {}  # value -> owning buffer; buffer -> floats, last step using it

    def use(name, buffer):
        buffer_of[name] = buffer
        offsets[name] = offsets[buffer]
        until = float("inf") if name in outputs else last_read.get(name, -1)
        live_until[buffer] = max(live_until.get(buffer, -1), until)

    def allocate(name):
        extent[name] = _aligned(sizes[name])
        offsets[name] = blocks.take(extent[name])
        live_until[name] = -1
        use(name, name)

    def release_dead(names, index):
        for buffer in {buffer_of[name] for name in names if name in buffer_of}:
            if buffer in extent and live_until[buffer] <= index:
                blocks.give(offsets[buffer], extent.pop(buffer))

    for name in inputs:
        allocate(name)
    for index, (reads, writes, inplace, view) in enumerate(steps):
        source = buffer_of.get(reads[0]) if reads else None
        for name in writes:
            if view and source is not None:
                use(name, source)
            elif inplace and source is not None and live_until[source] == index and sizes[name] == sizes[reads[0]] \
                    and offsets[reads[0]] == offsets[source]:
                live_until[source] = -1  # the input's last reader: the output takes over its buffer
                use(name, source)
            else:
                allocate(name)
        release_dead(list(reads) + list(writes), index)
    return offsets, blocks.high
