package pgsvc.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;

/**
 * Feeds a byte stream to a fresh decoder pipeline in chunks and records what came out, for the property tests of the
 * decoders. Every emitted batch is split into its frames (so that two runs can be compared whatever the grouping
 * into batches) and released; at the end the channel is closed and every input buffer must be freed. A cumulation
 * still held is a leak that {@link pgsvc.JqwikLeakGuard} reports for the class.
 *
 * @param outputs  what came out, in order: {@code frame <hex>} per frame, or a startup packet in words
 * @param failure  the message of the {@link ProtocolException} the stream ended in, or null
 */
record Feed(List<String> outputs, String failure) {

    /**
     * Writes {@code stream} as consecutive chunks of the given sizes (cycled; the last chunk takes what is left),
     * draining the pipeline after each write. Fails with an AssertionError on anything but a ProtocolException, on
     * a second exception, on output after a failure, on a batch that holds a partial frame, and on a leaked buffer.
     */
    static Feed run(Supplier<EmbeddedChannel> channels, byte[] stream, List<Integer> chunkSizes) {
        EmbeddedChannel channel = channels.get();
        try {
            return feed(channel, stream, chunkSizes);
        } finally {
            // After a failed check, so that what is left does not show up as a leak of a later test.
            channel.finishAndReleaseAll();
        }
    }

    private static Feed feed(EmbeddedChannel channel, byte[] stream, List<Integer> chunkSizes) {
        List<ByteBuf> inputs = new ArrayList<>();
        List<String> outputs = new ArrayList<>();
        String failure = null;
        int offset = 0;
        int chunk = 0;
        while (offset < stream.length) {
            int size = chunkSizes.isEmpty() ? stream.length
                    : Math.max(1, chunkSizes.get(chunk++ % chunkSizes.size()));
            size = Math.min(size, stream.length - offset);
            ByteBuf in = TestBuffers.buffer(Arrays.copyOfRange(stream, offset, offset + size));
            inputs.add(in);
            offset += size;
            int before = outputs.size();
            try {
                channel.writeInbound(in);
            } catch (ProtocolException e) {
                if (failure != null) {
                    throw new AssertionError("a second exception after \"" + failure + "\": " + e.getMessage(), e);
                }
                failure = e.getMessage();
                before = -1;
            } catch (RuntimeException | Error e) {
                throw new AssertionError("not a ProtocolException: " + e, e);
            }
            drain(channel, outputs);
            if (failure != null && before >= 0 && outputs.size() > before) {
                throw new AssertionError("output after \"" + failure + "\": "
                        + outputs.subList(before, outputs.size()));
            }
        }
        try {
            channel.finish();
        } catch (RuntimeException | Error e) {
            throw new AssertionError("closing the channel threw " + e, e);
        }
        int beforeClose = outputs.size();
        drain(channel, outputs);
        assertEquals(beforeClose, outputs.size(), "a partial packet at close must not come out");
        for (int i = 0; i < inputs.size(); i++) {
            assertEquals(0, inputs.get(i).refCnt(), "input buffer " + i + " still referenced after close");
        }
        return new Feed(outputs, failure);
    }

    private static void drain(EmbeddedChannel channel, List<String> outputs) {
        for (Object msg; (msg = channel.readInbound()) != null; ) {
            if (msg instanceof ByteBuf batch) {
                try {
                    assertTrue(batch.refCnt() > 0, "emitted batch already released");
                    assertTrue(batch.isReadable(), "empty batch");
                    int end = batch.writerIndex();
                    int i = batch.readerIndex();
                    while (i < end) {
                        assertTrue(end - i >= FrameDecoder.HEADER_LENGTH, "batch ends in a partial header");
                        int length = FrameDecoder.frameLength(batch, i);
                        assertTrue(length >= FrameDecoder.HEADER_LENGTH && length <= end - i,
                                "batch holds a partial frame");
                        outputs.add("frame " + ByteBufUtil.hexDump(batch, i, length));
                        i += length;
                    }
                } finally {
                    batch.release();
                }
            } else if (msg instanceof CancelRequest cancel) {
                outputs.add("cancel " + cancel.processId() + " " + cancel.secretKey());
            } else if (msg instanceof StartupPacket packet) {
                outputs.add(packet.toString());
            } else {
                throw new AssertionError("unexpected message " + msg.getClass().getName());
            }
        }
    }

    /** True if {@code this} run's outputs start with all of {@code other}'s. */
    boolean startsWith(Feed other) {
        return outputs.size() >= other.outputs.size() && outputs.subList(0, other.outputs.size()).equals(other.outputs);
    }
}
