package pgsvc.pooler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

/**
 * What a read asks for: short messages never shrink it below 2 kB (Netty's default goes down to 64 bytes, after
 * which pgbench's 69-byte UPDATE took two reads), and a connection that keeps filling its reads grows to 64 kB.
 */
class ReadSizesTest {
    private final ChannelConfig config = new EmbeddedChannel().config();

    /** One read of {@code bytes} (capped at what the handle asked for), as Netty's epoll loop records it. */
    private static int read(RecvByteBufAllocator.Handle handle, ChannelConfig config, int bytes) {
        handle.reset(config);
        int asked = handle.guess();
        handle.attemptedBytesRead(asked);
        handle.lastBytesRead(Math.min(bytes, asked));
        handle.incMessagesRead(1);
        handle.readComplete();
        return asked;
    }

    private static RecvByteBufAllocator.ExtendedHandle newHandle() {
        return (RecvByteBufAllocator.ExtendedHandle) Pooler.READ_SIZES.newHandle();
    }

    @Test
    void shortMessagesKeepReadsAtTwoKilobytes() {
        RecvByteBufAllocator.Handle handle = Pooler.READ_SIZES.newHandle();
        for (int i = 0; i < 100; i++) {
            read(handle, config, 20);
        }
        int asked = read(handle, config, 69);
        assertEquals(2048, asked, "after 100 short messages a read asks for " + asked + " bytes");
    }

    @Test
    void fullReadsGrowToSixtyFourKilobytes() {
        RecvByteBufAllocator.Handle handle = Pooler.READ_SIZES.newHandle();
        int asked = 0;
        for (int i = 0; i < 50; i++) {
            asked = read(handle, config, Integer.MAX_VALUE);
        }
        assertEquals(65536, asked);
        // Back to short messages: it shrinks again, but not below its floor.
        for (int i = 0; i < 100; i++) {
            asked = read(handle, config, 20);
        }
        assertTrue(asked >= 2048 && asked < 65536, "asked " + asked);
    }

    @Test
    void aRoundIsOneRead() {
        RecvByteBufAllocator.ExtendedHandle handle = newHandle();
        handle.reset(config);
        handle.attemptedBytesRead(handle.guess());
        handle.lastBytesRead(handle.guess());
        handle.incMessagesRead(1);
        // Even when it filled its buffer and Netty's epoll loop says more may be waiting: the loop reads the rest in
        // another round, after the other connections.
        assertFalse(handle.continueReading(() -> true));
        assertFalse(handle.continueReading());
        handle.readComplete();
        assertEquals(32768, handle.guess(), "a full 2 kB read makes the next one 16 times larger");
    }

    @Test
    void itShrinksByHalfEverySecondShortRound() {
        RecvByteBufAllocator.Handle handle = newHandle();
        read(handle, config, Integer.MAX_VALUE);
        // As with Netty's handle, the round that grew it counts as the first short one for the new size.
        read(handle, config, 100);
        assertEquals(16384, handle.guess());
        read(handle, config, 100);
        assertEquals(16384, handle.guess(), "one short round is not enough");
        read(handle, config, 100);
        assertEquals(8192, handle.guess());
    }
}
