package pgsvc.pooler;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;
import io.netty.util.concurrent.FastThreadLocal;

/**
 * The buffers reads go into. Sizes as Netty's adaptive allocator picks them, within 2 to 64 kB: Netty's default
 * shrinks to 64 bytes after a few short messages, and then a longer one (a 69-byte UPDATE from pgbench) takes two
 * reads and a composite buffer to join them; PgBouncer reads into a 4 kB buffer.
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

    private final AdaptiveRecvByteBufAllocator sizes = new AdaptiveRecvByteBufAllocator(MIN, MIN, MAX);

    @Override
    public Handle newHandle() {
        return new Reusing((ExtendedHandle) sizes.newHandle());
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

    /** Netty's handle for the sizes, with the buffer taken from the loop's spare. */
    private static final class Reusing extends DelegatingHandle implements ExtendedHandle {
        private final ExtendedHandle sizes;

        Reusing(ExtendedHandle sizes) {
            super(sizes);
            this.sizes = sizes;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            return take(alloc, guess());
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return sizes.continueReading(maybeMoreDataSupplier);
        }
    }
}
