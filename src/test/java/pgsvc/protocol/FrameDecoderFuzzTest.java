package pgsvc.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.constraints.Size;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.function.Supplier;

import pgsvc.JqwikLeakGuard;

/**
 * Property tests of {@link FrameDecoder}: whatever the bytes and however the network splits them, the frames that
 * come out are those of the whole stream read at once, a bad header ends the stream in a {@link ProtocolException}
 * at the same frame and in the same words, nothing else is ever thrown, and no buffer is leaked.
 */
@AddLifecycleHook(JqwikLeakGuard.class)
class FrameDecoderFuzzTest {

    /** Small, so that generated lengths often exceed it. */
    private static final int MAX_FRAME = 300;

    private static Supplier<EmbeddedChannel> decoder() {
        return () -> new EmbeddedChannel(new FrameDecoder(MAX_FRAME));
    }

    @Property(tries = 400)
    void anySplitGivesTheFramesAndTheFailureOfTheWholeStream(@ForAll("streams") byte[] stream,
            @ForAll @Size(max = 12) List<@IntRange(min = 1, max = 40) Integer> chunks) {
        Feed whole = Feed.run(decoder(), stream, List.of());
        Feed split = Feed.run(decoder(), stream, chunks);
        assertEquals(whole, split);
    }

    @Property(tries = 100)
    void byteAtATimeGivesTheFramesAndTheFailureOfTheWholeStream(@ForAll("streams") byte[] stream) {
        assertEquals(Feed.run(decoder(), stream, List.of()), Feed.run(decoder(), stream, List.of(1)));
    }

    @Property(tries = 200)
    void wellFormedFramesAllComeOutUnchanged(@ForAll("wellFormed") List<byte[]> frames,
            @ForAll @Size(max = 12) List<@IntRange(min = 1, max = 40) Integer> chunks) {
        Feed feed = Feed.run(decoder(), concat(frames), chunks);
        assertNull(feed.failure());
        assertEquals(frames.stream().map(f -> "frame " + hex(f)).toList(), feed.outputs());
    }

    @Example
    void aBadHeaderAfterGoodFramesFailsAfterDeliveringThem() {
        byte[] stream = TestBuffers.concat(TestBuffers.frame('Q', "SELECT 1"), TestBuffers.hex("51 00000002"));
        Feed feed = Feed.run(decoder(), stream, List.of(3));
        assertEquals(1, feed.outputs().size());
        assertNotNull(feed.failure());
    }

    @Provide
    Arbitrary<byte[]> streams() {
        return Arbitraries.oneOf(goodFrame(), oversizedHeader(), shortHeader(), garbage())
                .list().ofMaxSize(8).map(FrameDecoderFuzzTest::concat);
    }

    @Provide
    Arbitrary<List<byte[]>> wellFormed() {
        return goodFrame().list().ofMaxSize(10);
    }

    private static Arbitrary<byte[]> goodFrame() {
        return Combinators.combine(Arbitraries.bytes(),
                        Arbitraries.bytes().array(byte[].class).ofMaxSize(MAX_FRAME - 4))
                .as((type, body) -> ByteBuffer.allocate(5 + body.length).put(type).putInt(4 + body.length).put(body)
                        .array());
    }

    /** A header whose length is over the maximum, up to negative numbers read as huge. */
    private static Arbitrary<byte[]> oversizedHeader() {
        return Combinators.combine(Arbitraries.bytes(), Arbitraries.oneOf(
                        Arbitraries.integers().between(MAX_FRAME + 1, Integer.MAX_VALUE),
                        Arbitraries.of(MAX_FRAME + 1, Integer.MAX_VALUE, Integer.MIN_VALUE, -1)))
                .as((type, length) -> ByteBuffer.allocate(5).put(type).putInt(length).array());
    }

    /** A header whose length cannot even cover itself. */
    private static Arbitrary<byte[]> shortHeader() {
        return Combinators.combine(Arbitraries.bytes(), Arbitraries.integers().between(-4, 3))
                .as((type, length) -> ByteBuffer.allocate(5).put(type).putInt(length).array());
    }

    private static Arbitrary<byte[]> garbage() {
        return Arbitraries.bytes().array(byte[].class).ofMaxSize(20);
    }

    static byte[] concat(List<byte[]> parts) {
        return TestBuffers.concat(parts.toArray(new byte[0][]));
    }

    private static String hex(byte[] bytes) {
        return ByteBufUtil.hexDump(bytes);
    }
}
