package pgsvc.pooler;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;
import io.netty.util.concurrent.FastThreadLocal;

/**
 * The buffers reads go into. Sizes as Netty's adaptive allocator picks them, within 2 to 64 kB ({@link Sizes}):
 * Netty's default shrinks to 64 bytes after a few short messages, and then a longer one (a 69-byte UPDATE from
 * pgbench) takes two reads and a composite buffer to join them; PgBouncer reads into a 4 kB buffer.
 *
 * <p>Each event loop keeps one buffer that its reads reuse. A read is forwarded and released on the same loop almost
 * always (the query goes to the server, the answer to the client, both written at once), so by the next read the loop
 * holds the only reference again and the buffer is cleared and handed out once more, without a trip through the
 * pooled allocator each way. A buffer that someone still holds (a partial frame kept for the next read, a write the
 * socket did not take whole, a batch queued for a server) becomes theirs, and the loop takes a fresh one.
 * Reads of very different sizes on one loop (short queries, long results) share no buffer.
 */
final class ReadBuffers implements RecvByteBufAllocator {
    static final int MIN = 2048;
    static final int MAX = 65536;

    /** The loop's spare: one element, the buffer whose reference the loop itself holds, or null. */
    private static final FastThreadLocal<ByteBuf[]> SPARE = new FastThreadLocal<>() {
        @Override
        protected ByteBuf[] initialValue() {
            return new ByteBuf[1];
        }

        @Override
        protected void onRemoval(ByteBuf[] slot) {
            // The loop's thread ends: its reference goes back to the allocator.
            if (slot[0] != null) {
                slot[0].release();
                slot[0] = null;
            }
        }
    };

    @Override
    public Handle newHandle() {
        return new Sizes();
    }

    /**
     * A buffer of at least {@code size} bytes for a read on this thread, its spare when nobody else holds it. A spare
     * more than twice the size is not used: a short query read into a 64 kB buffer left by a large result would pin
     * all of it while the client waits for a server.
     */
    static ByteBuf take(ByteBufAllocator alloc, int size) {
        ByteBuf[] slot = SPARE.get();
        ByteBuf spare = slot[0];
        if (spare != null) {
            int capacity = spare.capacity();
            if (spare.refCnt() == 1 && capacity >= size && capacity <= 2 * size) {
                return spare.clear().retain();
            }
            slot[0] = null;
            spare.release();
        }
        spare = alloc.ioBuffer(size);
        slot[0] = spare;
        return spare.retain();
    }

    /**
     * One connection's read sizes and the bookkeeping of one round of reads, in one object. The sizes follow Netty's
     * adaptive allocator within 2 to 64 kB, where its steps double: a read that fills its buffer makes the next 16
     * times larger, two rounds in a row that would have fitted in half make it half. A round is one read, as with
     * Netty's allocators when nobody sets their messages per read: a read that filled its buffer leaves the rest to
     * another round, which Netty's epoll loop queues behind the other connections' events, so that one large result
     * does not hold up the loop.
     *
     * <p>Not Netty's adaptive handle inside a delegating one, as before: every connection's read went through three
     * handle objects, and the delegating calls, shared with Netty's own wrapper, could not be inlined.
     */
    static final class Sizes implements ExtendedHandle {
        static final int MAX_READS = 1;

        private final UncheckedBooleanSupplier filled = () -> this.attempted == this.last;
        private ChannelConfig config;
        private int size = MIN;
        private boolean shrinkNext;
        private int reads;
        private int bytes;
        private int attempted;
        private int last;

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            return take(alloc, size);
        }

        @Override
        public int guess() {
            return size;
        }

        @Override
        public void reset(ChannelConfig config) {
            this.config = config;
            reads = 0;
            bytes = 0;
        }

        @Override
        public void incMessagesRead(int numMessages) {
            reads += numMessages;
        }

        @Override
        public void lastBytesRead(int bytes) {
            if (bytes == attempted) {
                record(bytes);
            }
            last = bytes;
            if (bytes > 0) {
                this.bytes += bytes;
            }
        }

        @Override
        public int lastBytesRead() {
            return last;
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            attempted = bytes;
        }

        @Override
        public int attemptedBytesRead() {
            return attempted;
        }

        @Override
        public boolean continueReading() {
            return continueReading(filled);
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreData) {
            // The count first: after the round's one read it settles the answer without the two calls.
            return reads < MAX_READS && bytes > 0 && config.isAutoRead() && maybeMoreData.get();
        }

        @Override
        public void readComplete() {
            record(bytes < 0 ? Integer.MAX_VALUE : bytes);
        }

        private void record(int read) {
            if (read <= size >> 1) {
                if (shrinkNext) {
                    size = Math.max(size >> 1, MIN);
                    shrinkNext = false;
                } else {
                    shrinkNext = true;
                }
            } else if (read >= size) {
                size = Math.min(size << 4, MAX);
                shrinkNext = false;
            }
        }
    }
}
