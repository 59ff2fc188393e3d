package pgsvc.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static pgsvc.protocol.TestBuffers.buffer;
import static pgsvc.protocol.TestBuffers.bytes;
import static pgsvc.protocol.TestBuffers.concat;
import static pgsvc.protocol.TestBuffers.frame;
import static pgsvc.protocol.TestBuffers.hex;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

/**
 * {@link Framer} used directly, as the pooler's connections use it: the framing itself is FrameDecoderTest's; here,
 * what a handler that frames for itself relies on besides.
 */
class FramerTest {
    private static final byte[] QUERY = frame('Q', TestBuffers.cString("SELECT 1"));

    private final Framer framer = new Framer(FrameDecoder.DEFAULT_MAX_FRAME_LENGTH);

    @AfterEach
    void releaseWhatIsHeld() {
        framer.release();
    }

    @Test
    void aBadHeaderGivesTheFramesBeforeItThenItsFailureOnce() {
        ByteBuf batch = framer.frame(ByteBufAllocator.DEFAULT, buffer(concat(QUERY, hex("00 00000000"))));
        assertArrayEquals(QUERY, bytes(batch));
        batch.release();
        ProtocolException failure = framer.failure();
        assertNotNull(failure);
        assertEquals("bad packet header: '0000000000'", failure.getMessage());
        assertEquals("08P01", failure.sqlState());
        assertNull(framer.failure(), "given once");

        ByteBuf later = buffer(QUERY);
        assertNull(framer.frame(ByteBufAllocator.DEFAULT, later), "input after a bad header is not framed");
        assertEquals(0, later.refCnt(), "and it is released");
        assertNull(framer.failure());
    }

    @Test
    void aPartialFrameWaitsInTheFramerAndReleaseLetsItGo() {
        ByteBuf first = buffer(Arrays.copyOf(QUERY, 7));
        assertNull(framer.frame(ByteBufAllocator.DEFAULT, first));
        assertEquals(1, first.refCnt(), "held for the rest");
        ByteBuf batch = framer.frame(ByteBufAllocator.DEFAULT, buffer(Arrays.copyOfRange(QUERY, 7, QUERY.length)));
        assertArrayEquals(QUERY, bytes(batch));
        batch.release();

        ByteBuf again = buffer(Arrays.copyOf(QUERY, 3));
        assertNull(framer.frame(ByteBufAllocator.DEFAULT, again));
        framer.release();
        assertEquals(0, again.refCnt());
    }

    @Test
    void readCompleteAsksForAReadOnlyWhenAutoReadIsOffAndNoFrameCameWhole() {
        int[] reads = new int[1];
        ChannelHandlerContext[] ctx = new ChannelHandlerContext[1];
        EmbeddedChannel channel = new EmbeddedChannel(new ChannelOutboundHandlerAdapter() {
            @Override
            public void read(ChannelHandlerContext c) {
                reads[0]++;
                c.read();
            }
        }, new ChannelInboundHandlerAdapter() {
            @Override
            public void handlerAdded(ChannelHandlerContext c) {
                ctx[0] = c;
            }
        });
        channel.config().setAutoRead(false);
        reads[0] = 0;

        // Half a frame with auto-read off: nobody else would ask for the rest.
        assertNull(framer.frame(ByteBufAllocator.DEFAULT, buffer(Arrays.copyOf(QUERY, 4))));
        framer.readComplete(ctx[0]);
        assertEquals(1, reads[0]);

        // The rest makes a frame: whoever takes it decides about reading on.
        ByteBuf batch = framer.frame(ByteBufAllocator.DEFAULT, buffer(Arrays.copyOfRange(QUERY, 4, QUERY.length)));
        batch.release();
        framer.readComplete(ctx[0]);
        assertEquals(1, reads[0]);

        // No read since the last completion: nothing to ask for.
        framer.readComplete(ctx[0]);
        assertEquals(1, reads[0]);

        // With auto-read on, Netty reads on by itself.
        channel.config().setAutoRead(true);
        reads[0] = 0;
        assertNull(framer.frame(ByteBufAllocator.DEFAULT, buffer(Arrays.copyOf(QUERY, 4))));
        framer.readComplete(ctx[0]);
        assertEquals(0, reads[0]);
        channel.finishAndReleaseAll();
    }
}
