package pgsvc.pooler;

import java.util.function.Consumer;

import io.netty.buffer.ByteBuf;

/**
 * Passes a batch of frames on with some bytes replaced. A batch with no replacement goes out whole. A changed batch
 * of at most {@link #COPY_LIMIT} bytes goes out as one new buffer: the unchanged runs copied, the new bytes in
 * between. A larger one goes out as retained slices of the batch (no copy), in order with the new bytes.
 *
 * <p>One buffer is the common case, a renamed prepared statement in a request of a few hundred bytes: copying those is
 * cheaper than a slice per run, and the connection sends it with one {@code send()} where slices take Netty's
 * outbound queue and a {@code writev()}. Slices keep a large frame (a Bind with megabytes of parameters) from being
 * copied for a name.
 *
 * <p>Buffers: {@link #begin} takes ownership of the batch and {@link #finish} gives it up (to the sink, or by
 * releasing it); every replacement given to {@link #replace} is the splice's (handed to the sink, or copied and
 * released). Positions only move forward.
 */
final class Splice {
    /** The largest changed batch that is copied; one read is at most 64 kB (ReadBuffers). */
    static final int COPY_LIMIT = 64 * 1024;

    private final Consumer<ByteBuf> sink;
    private final int copyLimit;
    private ByteBuf batch;
    /** The changed batch being built, when it is copied. */
    private ByteBuf copy;
    /** A buffer handed out by {@link #replacing} for slices, sent at the next call. */
    private ByteBuf open;
    private int run;
    private boolean changed;

    Splice(Consumer<ByteBuf> sink) {
        this(sink, COPY_LIMIT);
    }

    Splice(Consumer<ByteBuf> sink, int copyLimit) {
        this.sink = sink;
        this.copyLimit = copyLimit;
    }

    void begin(ByteBuf batch) {
        this.batch = batch;
        this.run = batch.readerIndex();
        this.changed = false;
    }

    /** Bytes {@code [from, to)} of the batch go out as {@code replacement} instead; null drops them. */
    void replace(int from, int to, ByteBuf replacement) {
        ByteBuf c = upTo(from);
        if (replacement != null) {
            if (c == null) {
                sink.accept(replacement);
            } else {
                try {
                    c.writeBytes(replacement);
                } finally {
                    replacement.release();
                }
            }
        }
        run = to;
    }

    /**
     * Bytes {@code [from, to)} of the batch go out as what the caller writes to the returned buffer, at once and
     * before any other call here; {@code size} is what it means to write.
     */
    ByteBuf replacing(int from, int to, int size) {
        ByteBuf c = upTo(from);
        run = to;
        if (c != null) {
            c.ensureWritable(size);
            return c;
        }
        return open = batch.alloc().ioBuffer(size);
    }

    /** {@code bytes} go out before the byte at {@code at}. */
    void insert(int at, ByteBuf bytes) {
        replace(at, at, bytes);
    }

    /** Sends what is left up to {@code end} and lets go of the batch; anything after {@code end} is dropped. */
    void finish(int end) {
        ByteBuf b = batch;
        batch = null;
        if (!changed && end == b.writerIndex()) {
            sink.accept(b);
            return;
        }
        ByteBuf c = copy;
        copy = null;
        try {
            pass(b, c, end);
        } finally {
            b.release();
        }
        if (c != null) {
            sink.accept(c);
        }
    }

    /** Marks the batch changed and moves its unchanged bytes up to {@code from} on; the copy, if copying. */
    private ByteBuf upTo(int from) {
        ByteBuf b = batch;
        if (!changed) {
            changed = true;
            if (b.readableBytes() <= copyLimit) {
                // Room for a renamed statement or two without growing.
                copy = b.alloc().ioBuffer(b.readableBytes() + 64);
            }
        }
        ByteBuf c = copy;
        pass(b, c, from);
        return c;
    }

    /** The unchanged bytes of batch {@code b} up to {@code to} go on: into copy {@code c}, or as a slice if null. */
    private void pass(ByteBuf b, ByteBuf c, int to) {
        if (c == null) {
            sendOpen();
            if (to > run) {
                sink.accept(b.retainedSlice(run, to - run));
            }
        } else if (to > run) {
            c.writeBytes(b, run, to - run);
        }
    }

    private void sendOpen() {
        ByteBuf o = open;
        if (o != null) {
            open = null;
            sink.accept(o);
        }
    }
}
