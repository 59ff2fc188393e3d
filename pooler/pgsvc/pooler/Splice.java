package pgsvc.pooler;

import java.util.function.Consumer;

import io.netty.buffer.ByteBuf;

/**
 * Passes a batch of frames on with some bytes replaced: the unchanged runs between replacements go out as retained
 * slices of the batch (no copy), in order with the new bytes. A batch with no replacement goes out whole.
 *
 * <p>Buffers: {@link #begin} takes ownership of the batch and {@link #finish} gives it up (to the sink, or by
 * releasing it); every replacement given to {@link #replace} is handed to the sink. Positions only move forward.
 */
final class Splice {
    private final Consumer<ByteBuf> sink;
    private ByteBuf batch;
    private int run;
    private boolean changed;

    Splice(Consumer<ByteBuf> sink) {
        this.sink = sink;
    }

    void begin(ByteBuf batch) {
        this.batch = batch;
        this.run = batch.readerIndex();
        this.changed = false;
    }

    /** Bytes {@code [from, to)} of the batch go out as {@code replacement} instead; null drops them. */
    void replace(int from, int to, ByteBuf replacement) {
        if (from > run) {
            sink.accept(batch.retainedSlice(run, from - run));
        }
        if (replacement != null) {
            sink.accept(replacement);
        }
        run = to;
        changed = true;
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
        try {
            if (end > run) {
                sink.accept(b.retainedSlice(run, end - run));
            }
        } finally {
            b.release();
        }
    }
}
