package pgsvc.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.channel.embedded.EmbeddedChannel;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.constraints.Size;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Supplier;

import pgsvc.JqwikLeakGuard;

/**
 * Property tests of {@link StartupDecoder} and the {@link FrameDecoder} it hands over to: any bytes a client may open
 * a connection with, split anywhere, give the packets and frames of the whole stream read at once, or end in a
 * {@link ProtocolException}; never another exception, never a leaked buffer.
 *
 * <p>The one legitimate difference between a split and an unsplit stream: bytes that arrive together with an
 * SSLRequest or GSSENCRequest are refused (they were not sent in answer to it), while the same bytes arriving in a
 * later read are the next packet. So where a run fails, what it emitted before is a prefix of what the other emitted.
 */
@AddLifecycleHook(JqwikLeakGuard.class)
class StartupDecoderFuzzTest {

    private static final int MAX_STARTUP = 200;
    private static final int MAX_FRAME = 200;

    private static Supplier<EmbeddedChannel> decoder() {
        return () -> {
            EmbeddedChannel channel = new EmbeddedChannel();
            channel.pipeline().addLast(StartupDecoder.NAME, new StartupDecoder(MAX_STARTUP, MAX_FRAME));
            return channel;
        };
    }

    @Property(tries = 500)
    void anySplitGivesThePacketsOfTheWholeStreamOrAProtocolException(@ForAll("streams") byte[] stream,
            @ForAll @Size(max = 12) List<@IntRange(min = 1, max = 30) Integer> chunks) {
        Feed whole = Feed.run(decoder(), stream, List.of());
        Feed split = Feed.run(decoder(), stream, chunks);
        check(whole, split);
    }

    @Property(tries = 100)
    void byteAtATimeGivesThePacketsOfTheWholeStreamOrAProtocolException(@ForAll("streams") byte[] stream) {
        check(Feed.run(decoder(), stream, List.of()), Feed.run(decoder(), stream, List.of(1)));
    }

    /** Without encryption requests, splitting changes nothing at all: same output, same failure. */
    @Property(tries = 300)
    void withoutEncryptionRequestsAnySplitGivesTheSameResult(@ForAll("plainStreams") byte[] stream,
            @ForAll @Size(max = 12) List<@IntRange(min = 1, max = 30) Integer> chunks) {
        Feed whole = Feed.run(decoder(), stream, List.of());
        Feed split = Feed.run(decoder(), stream, chunks);
        assertEquals(whole.outputs(), split.outputs());
        // The text may differ: a bad header's hex dump shows the bytes that had arrived.
        assertEquals(whole.failure() != null, split.failure() != null, () -> whole + " vs " + split);
    }

    private static void check(Feed whole, Feed split) {
        if (whole.failure() == null && split.failure() == null) {
            assertEquals(whole.outputs(), split.outputs());
        } else if (whole.failure() != null) {
            assertTrue(split.startsWith(whole), () -> "split " + split + " does not extend whole " + whole);
        } else {
            assertTrue(whole.startsWith(split), () -> "whole " + whole + " does not extend split " + split);
        }
    }

    @Provide
    Arbitrary<byte[]> streams() {
        return Arbitraries.frequencyOf(
                        Tuple.of(4, startupMessage()),
                        Tuple.of(2, Arbitraries.of(sslRequest(), gssEncRequest())),
                        Tuple.of(2, cancelRequest()),
                        Tuple.of(1, badHeader()),
                        Tuple.of(1, otherVersion()),
                        Tuple.of(4, frame()),
                        Tuple.of(1, garbage()))
                .list().ofMaxSize(6).map(FrameDecoderFuzzTest::concat);
    }

    @Provide
    Arbitrary<byte[]> plainStreams() {
        return Arbitraries.frequencyOf(
                        Tuple.of(4, startupMessage()),
                        Tuple.of(2, cancelRequest()),
                        Tuple.of(1, badHeader()),
                        Tuple.of(1, otherVersion()),
                        Tuple.of(4, frame()),
                        Tuple.of(1, garbage()))
                .list().ofMaxSize(6).map(FrameDecoderFuzzTest::concat);
    }

    /** A v3 StartupMessage: names and values from a small alphabet (empty ones too), the terminator sometimes lost. */
    private static Arbitrary<byte[]> startupMessage() {
        Arbitrary<String> word = Arbitraries.strings().withChars("usera\u00e9=\u0001 ").ofMaxLength(6);
        Arbitrary<List<String>> words = word.list().ofMaxSize(7);
        return Combinators.combine(words, Arbitraries.of(true, true, true, false), Arbitraries.of(0, 0, 1, 2, 3))
                .as((list, terminated, minor) -> {
                    ByteArrayOutputStream body = new ByteArrayOutputStream();
                    for (String w : list) {
                        body.writeBytes(w.getBytes(StandardCharsets.UTF_8));
                        body.write(0);
                    }
                    if (terminated) {
                        body.write(0);
                    }
                    return packet(Protocol.PROTOCOL_VERSION_3_0 + minor, body.toByteArray());
                });
    }

    private static byte[] sslRequest() {
        return packet(Protocol.SSL_REQUEST_CODE, new byte[0]);
    }

    private static byte[] gssEncRequest() {
        return packet(Protocol.GSSENC_REQUEST_CODE, new byte[0]);
    }

    /** A CancelRequest, mostly of the right length. */
    private static Arbitrary<byte[]> cancelRequest() {
        return Arbitraries.bytes().array(byte[].class).ofMinSize(0).ofMaxSize(12)
                .edgeCases(c -> c.add(new byte[8]))
                .map(body -> packet(Protocol.CANCEL_REQUEST_CODE, body));
    }

    /** A length below the header or above the maximum. */
    private static Arbitrary<byte[]> badHeader() {
        return Combinators.combine(Arbitraries.oneOf(Arbitraries.integers().between(-2, 7),
                        Arbitraries.integers().between(MAX_STARTUP + 1, Integer.MAX_VALUE)), Arbitraries.integers())
                .as((length, code) -> ByteBuffer.allocate(8).putInt(length).putInt(code).array());
    }

    /** A well-framed packet of another protocol version or an unknown code. */
    private static Arbitrary<byte[]> otherVersion() {
        return Combinators.combine(Arbitraries.integers(), Arbitraries.bytes().array(byte[].class).ofMaxSize(20))
                .as(StartupDecoderFuzzTest::packet);
    }

    private static Arbitrary<byte[]> frame() {
        return Combinators.combine(Arbitraries.of((byte) 'Q', (byte) 'X', (byte) 'p', (byte) 'S'),
                        Arbitraries.bytes().array(byte[].class).ofMaxSize(30))
                .as((type, body) -> ByteBuffer.allocate(5 + body.length).put(type).putInt(4 + body.length).put(body)
                        .array());
    }

    private static Arbitrary<byte[]> garbage() {
        return Arbitraries.bytes().array(byte[].class).ofMaxSize(16);
    }

    private static byte[] packet(int code, byte[] body) {
        return TestBuffers.startupPacket(code, body);
    }
}
