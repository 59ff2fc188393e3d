package pgsvc.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.protocol.TestBuffers.buffer;
import static pgsvc.protocol.TestBuffers.bytes;
import static pgsvc.protocol.TestBuffers.concat;
import static pgsvc.protocol.TestBuffers.drainBatches;
import static pgsvc.protocol.TestBuffers.frame;
import static pgsvc.protocol.TestBuffers.hex;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

class FrameDecoderTest {

    private static final byte[] READY_FOR_QUERY = hex("5a 00000005 49");
    private static final byte[] SYNC = hex("53 00000004");
    private static final byte[] QUERY = frame('Q', "SELECT 1");
    private static final byte[] PARSE = frame('P', concat(TestBuffers.cString(""), TestBuffers.cString("SELECT $1"),
            hex("0000")));

    @Test
    void aReadOfWholeFramesIsPassedOnAsItIs() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        ByteBuf input = buffer(READY_FOR_QUERY);

        channel.writeInbound(input);
        ByteBuf batch = channel.readInbound();

        assertArrayEquals(READY_FOR_QUERY, bytes(batch));
        // No copy and no slice: the batch is the input, and releasing the batch frees it.
        assertSame(input, batch);
        assertEquals(1, input.refCnt());
        assertTrue(batch.release());
        assertEquals(0, input.refCnt());
        assertFalse(channel.finish());
    }

    @Test
    void framesMergedInOneReadComeOutAsOneBatchWalkableInPlace() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        byte[] stream = concat(PARSE, QUERY, SYNC);

        channel.writeInbound(buffer(stream));
        ByteBuf batch = channel.readInbound();
        try {
            assertNull(channel.readInbound(), "one batch per read");
            assertEquals(3, FrameDecoder.frameCount(batch));
            List<Character> types = new ArrayList<>();
            List<Integer> bodyLengths = new ArrayList<>();
            for (int i = batch.readerIndex(); i < batch.writerIndex(); i += FrameDecoder.frameLength(batch, i)) {
                types.add((char) batch.getByte(i));
                bodyLengths.add(FrameDecoder.bodyLength(batch, i));
            }
            assertEquals(List.of('P', 'Q', 'S'), types);
            assertEquals(List.of(PARSE.length - 5, QUERY.length - 5, 0), bodyLengths);
            assertEquals("SELECT 1", Messages.readCString(batch, FrameDecoder.bodyIndex(PARSE.length),
                    batch.writerIndex()));
        } finally {
            batch.release();
        }
        assertFalse(channel.finish());
    }

    @Test
    void framesSplitAtEveryByteBoundaryComeOutWhole() {
        byte[] stream = concat(PARSE, QUERY, SYNC, READY_FOR_QUERY);
        for (int split = 1; split < stream.length; split++) {
            EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());

            channel.writeInbound(buffer(Arrays.copyOfRange(stream, 0, split)));
            channel.writeInbound(buffer(Arrays.copyOfRange(stream, split, stream.length)));

            List<byte[]> batches = new ArrayList<>();
            for (ByteBuf batch; (batch = channel.readInbound()) != null; ) {
                batches.add(bytes(batch));
                // Every batch ends on a frame boundary: walking it lands exactly on its end.
                int end = batch.readerIndex();
                while (end < batch.writerIndex()) {
                    end += FrameDecoder.frameLength(batch, end);
                }
                assertEquals(batch.writerIndex(), end, "split " + split);
                batch.release();
            }
            assertTrue(batches.size() <= 2, "split " + split);
            assertArrayEquals(stream, concat(batches.toArray(new byte[0][])), "split " + split);
            assertFalse(channel.finish(), "split " + split);
        }
    }

    @Test
    void byteAtATimeGivesOneBatchPerFrame() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        byte[][] frames = {PARSE, SYNC, QUERY};

        for (byte[] frame : frames) {
            for (int i = 0; i < frame.length - 1; i++) {
                channel.writeInbound(buffer(new byte[] {frame[i]}));
                assertNull(channel.readInbound(), "frame still incomplete");
            }
            channel.writeInbound(buffer(new byte[] {frame[frame.length - 1]}));
            ByteBuf batch = channel.readInbound();
            assertArrayEquals(frame, bytes(batch));
            batch.release();
        }
        assertFalse(channel.finish());
    }

    @Test
    void aFrameSpreadOverManyReadsIsJoinedWithoutLeaks() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        byte[] data = frame('D', new byte[5000]);
        byte[] stream = concat(SYNC, data, READY_FOR_QUERY);
        List<ByteBuf> reads = new ArrayList<>();
        for (int i = 0; i < stream.length; i += 700) {
            ByteBuf read = buffer(Arrays.copyOfRange(stream, i, Math.min(stream.length, i + 700)));
            reads.add(read);
            channel.writeInbound(read);
        }

        assertArrayEquals(stream, drainBatches(channel));
        assertFalse(channel.finish());
        for (ByteBuf read : reads) {
            assertEquals(0, read.refCnt());
        }
    }

    @Test
    void withAutoReadOffAReadThatMadeNoFrameAsksForTheNext() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        channel.config().setAutoRead(false);
        int[] reads = new int[1];
        channel.pipeline().addFirst(new io.netty.channel.ChannelOutboundHandlerAdapter() {
            @Override
            public void read(io.netty.channel.ChannelHandlerContext ctx) {
                reads[0]++;
                ctx.read();
            }
        });

        channel.writeInbound(buffer(Arrays.copyOf(QUERY, 3)));
        assertEquals(1, reads[0], "a partial frame asks for more");
        channel.writeInbound(buffer(Arrays.copyOfRange(QUERY, 3, QUERY.length)));
        assertEquals(1, reads[0], "a whole frame leaves reading to whoever takes it");
        assertArrayEquals(QUERY, drainBatches(channel));
        assertFalse(channel.finish());
    }

    @Test
    void partialTrailingFrameWaitsForItsRest() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());

        channel.writeInbound(buffer(concat(SYNC, Arrays.copyOf(QUERY, 7))));
        assertArrayEquals(SYNC, drainBatches(channel));

        channel.writeInbound(buffer(Arrays.copyOfRange(QUERY, 7, QUERY.length)));
        assertArrayEquals(QUERY, drainBatches(channel));
        assertFalse(channel.finish());
    }

    @Test
    void oversizedLengthIsRefusedAsSoonAsTheHeaderArrives() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder(1000));

        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(buffer(hex("44 000003e9"))));

        assertTrue(e.getMessage().startsWith("oversized packet"), e.getMessage());
        assertEquals("08P01", e.sqlState());
        assertNull(channel.readInbound());
        assertFalse(channel.finish());
    }

    @Test
    void lengthAtTheMaximumIsAccepted() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder(1000));
        byte[] frame = frame('d', new byte[996]);

        channel.writeInbound(buffer(frame));

        assertArrayEquals(frame, drainBatches(channel));
        assertFalse(channel.finish());
    }

    @Test
    void lengthBelowFourIsABadPacketHeader() {
        for (String header : List.of("51 00000003", "51 00000000", "51 ffffffff")) {
            EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());

            ProtocolException e = assertThrows(ProtocolException.class,
                    () -> channel.writeInbound(buffer(hex(header))));

            assertEquals("bad packet header: '" + header.replace(" ", "") + "'", e.getMessage());
            assertFalse(channel.finish());
        }
    }

    @Test
    void framesBeforeABadHeaderAreDeliveredFirstAndLaterInputIsDiscarded() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());

        assertThrows(ProtocolException.class,
                () -> channel.writeInbound(buffer(concat(QUERY, SYNC, hex("51 00000001 00")))));
        assertArrayEquals(concat(QUERY, SYNC), drainBatches(channel));

        // The pooler closes after the error; whatever still arrives must neither decode nor raise again.
        channel.writeInbound(buffer(READY_FOR_QUERY));
        assertNull(channel.readInbound());
        assertFalse(channel.finish());
    }

    @Test
    void inputClosedWithAPartialFrameReleasesIt() {
        EmbeddedChannel channel = new EmbeddedChannel(new FrameDecoder());
        ByteBuf input = buffer(Arrays.copyOf(QUERY, 3));

        channel.writeInbound(input);

        assertFalse(channel.finish());
        assertEquals(0, input.refCnt());
    }

    @Test
    void helpersReadTheHeader() {
        ByteBuf buf = buffer(concat(SYNC, QUERY));
        try {
            assertEquals(5, FrameDecoder.frameLength(buf, 0));
            assertEquals(QUERY.length, FrameDecoder.frameLength(buf, 5));
            assertEquals(10, FrameDecoder.bodyIndex(5));
            assertEquals(QUERY.length - 5, FrameDecoder.bodyLength(buf, 5));
            assertEquals(2, FrameDecoder.frameCount(buf));
        } finally {
            buf.release();
        }
    }

    @Test
    void refusesAMaximumBelowTheHeaderLength() {
        assertThrows(IllegalArgumentException.class, () -> new FrameDecoder(3));
        assertNotNull(new FrameDecoder(4));
    }
}
