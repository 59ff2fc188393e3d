package pgsvc.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static pgsvc.protocol.TestBuffers.buffer;
import static pgsvc.protocol.TestBuffers.cString;
import static pgsvc.protocol.TestBuffers.concat;
import static pgsvc.protocol.TestBuffers.drainBatches;
import static pgsvc.protocol.TestBuffers.frame;
import static pgsvc.protocol.TestBuffers.hex;
import static pgsvc.protocol.TestBuffers.startupPacket;
import static pgsvc.protocol.TestBuffers.writeByteAtATime;

import io.netty.buffer.ByteBuf;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

class StartupDecoderTest {

    private static final byte[] SSL_REQUEST = hex("00000008 04d2162f");
    private static final byte[] GSSENC_REQUEST = hex("00000008 04d21630");
    private static final byte[] CANCEL_REQUEST = hex("00000010 04d2162e 00003039 deadbeef");
    private static final byte[] STARTUP = startupPacket(Protocol.PROTOCOL_VERSION_3_0, concat(
            cString("user"), cString("alice"),
            cString("database"), cString("shop"),
            cString("application_name"), cString("café"),
            cString("options"), cString(""),
            new byte[] {0}));
    private static final Map<String, String> STARTUP_PARAMETERS = Map.of(
            "user", "alice", "database", "shop", "application_name", "café", "options", "");
    private static final byte[] QUERY = frame('Q', "SELECT 1");
    private static final byte[] TERMINATE = hex("58 00000004");

    private static EmbeddedChannel channel() {
        EmbeddedChannel channel = new EmbeddedChannel();
        channel.pipeline().addLast(StartupDecoder.NAME, new StartupDecoder());
        return channel;
    }

    @Test
    void sslRequestIsEmittedAndTheDecoderStaysForTheNextPacket() {
        EmbeddedChannel channel = channel();
        ByteBuf input = buffer(SSL_REQUEST);

        channel.writeInbound(input);

        assertSame(SslRequest.INSTANCE, channel.readInbound());
        assertNull(channel.readInbound());
        assertInstanceOf(StartupDecoder.class, channel.pipeline().get(StartupDecoder.NAME));
        assertEquals(0, input.refCnt());
        assertFalse(channel.finish());
    }

    @Test
    void gssEncRequestIsEmittedAndTheDecoderStays() {
        EmbeddedChannel channel = channel();

        channel.writeInbound(buffer(GSSENC_REQUEST));

        assertSame(GssEncRequest.INSTANCE, channel.readInbound());
        assertInstanceOf(StartupDecoder.class, channel.pipeline().get(StartupDecoder.NAME));
        assertFalse(channel.finish());
    }

    @Test
    void sslRequestThenStartupMessageInLaterReads() {
        EmbeddedChannel channel = channel();

        channel.writeInbound(buffer(SSL_REQUEST));
        assertSame(SslRequest.INSTANCE, channel.readInbound());
        // ... the pooler answers 'N' and the client carries on in clear ...
        channel.writeInbound(buffer(STARTUP));

        StartupMessage startup = channel.readInbound();
        assertEquals(STARTUP_PARAMETERS, startup.parameters());
        assertFalse(channel.finish());
    }

    @Test
    void sslRequestFollowedByBufferedDataInOneReadIsRefused() {
        EmbeddedChannel channel = channel();
        ByteBuf input = buffer(concat(SSL_REQUEST, STARTUP));

        // The client cannot have seen our answer yet, so these bytes were not sent in reply to it: if we said 'S'
        // they would pass for TLS-protected input (CVE-2021-3935). Refused before the pooler can answer.
        ProtocolException e = assertThrows(ProtocolException.class, () -> channel.writeInbound(input));

        assertEquals("received unencrypted data after SSL request", e.getMessage());
        assertEquals("08P01", e.sqlState());
        assertNull(channel.readInbound(), "no SSLRequest to answer");
        assertEquals(0, input.refCnt());
        assertFalse(channel.finish());
    }

    @Test
    void gssEncRequestFollowedByBufferedDataInOneReadIsRefused() {
        EmbeddedChannel channel = channel();

        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(buffer(concat(GSSENC_REQUEST, SSL_REQUEST))));

        assertEquals("received unencrypted data after GSSAPI encryption request", e.getMessage());
        assertNull(channel.readInbound());
        assertFalse(channel.finish());
    }

    @Test
    void cancelRequestCarriesProcessIdAndKeyAndLaterInputIsAnError() {
        EmbeddedChannel channel = channel();

        channel.writeInbound(buffer(CANCEL_REQUEST));

        assertEquals(new CancelRequest(12345, 0xdeadbeef), channel.readInbound());
        assertInstanceOf(StartupDecoder.class, channel.pipeline().get(StartupDecoder.NAME));
        assertThrows(ProtocolException.class, () -> channel.writeInbound(buffer(STARTUP)));
        assertNull(channel.readInbound());
        assertFalse(channel.finish());
    }

    @Test
    void cancelRequestOfTheWrongLengthIsRefused() {
        EmbeddedChannel channel = channel();

        ProtocolException e = assertThrows(ProtocolException.class, () -> channel.writeInbound(buffer(
                startupPacket(Protocol.CANCEL_REQUEST_CODE, hex("00003039 deadbeef 00000000")))));

        assertEquals("bad cancel request", e.getMessage());
        assertNull(channel.readInbound());
        assertFalse(channel.finish());
    }

    @Test
    void startupMessageKeepsTheClientsParameterOrderAndReplacesTheDecoder() {
        EmbeddedChannel channel = channel();
        ByteBuf input = buffer(STARTUP);

        channel.writeInbound(input);

        StartupMessage startup = channel.readInbound();
        assertEquals(Protocol.PROTOCOL_VERSION_3_0, startup.protocolVersion());
        assertEquals(3, startup.majorVersion());
        assertEquals(0, startup.minorVersion());
        assertEquals(List.of("user", "database", "application_name", "options"),
                List.copyOf(startup.parameters().keySet()));
        assertEquals(STARTUP_PARAMETERS, startup.parameters());
        assertEquals("alice", startup.parameter("user"));
        assertThrows(UnsupportedOperationException.class, () -> startup.parameters().put("user", "mallory"));
        assertNull(channel.pipeline().get(StartupDecoder.class));
        assertInstanceOf(FrameDecoder.class, channel.pipeline().get(FrameDecoder.NAME));
        assertEquals(0, input.refCnt());
        assertFalse(channel.finish());
    }

    @Test
    void startupMessageByteAtATime() {
        EmbeddedChannel channel = channel();

        for (int i = 0; i < STARTUP.length - 1; i++) {
            channel.writeInbound(buffer(new byte[] {STARTUP[i]}));
            assertNull(channel.readInbound(), "emitted after " + (i + 1) + " bytes");
        }
        channel.writeInbound(buffer(new byte[] {STARTUP[STARTUP.length - 1]}));

        StartupMessage startup = channel.readInbound();
        assertEquals(STARTUP_PARAMETERS, startup.parameters());
        assertFalse(channel.finish());
    }

    @Test
    void everyPacketKindByteAtATime() {
        for (byte[] packet : List.of(SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST)) {
            EmbeddedChannel channel = channel();

            writeByteAtATime(channel, packet);

            Object decoded = channel.readInbound();
            assertNotNull(decoded);
            assertNull(channel.readInbound());
            assertFalse(channel.finish());
        }
    }

    @Test
    void framesInTheSameReadAsTheStartupMessageComeOutOfTheFrameDecoder() {
        EmbeddedChannel channel = channel();
        ByteBuf input = buffer(concat(STARTUP, QUERY, TERMINATE, Arrays.copyOf(QUERY, 3)));

        channel.writeInbound(input);

        assertInstanceOf(StartupMessage.class, channel.readInbound());
        ByteBuf batch = channel.readInbound();
        assertEquals(2, FrameDecoder.frameCount(batch));
        assertArrayEquals(concat(QUERY, TERMINATE), TestBuffers.bytes(batch));
        batch.release();
        assertNull(channel.readInbound());
        // The partial frame moved over with the leftover bytes and completes in the frame decoder.
        channel.writeInbound(buffer(Arrays.copyOfRange(QUERY, 3, QUERY.length)));
        assertArrayEquals(QUERY, drainBatches(channel));
        assertEquals(0, input.refCnt());
        assertFalse(channel.finish());
    }

    @Test
    void wholeSessionOpeningByteAtATime() {
        EmbeddedChannel channel = channel();
        byte[] frames = concat(QUERY, TERMINATE);

        writeByteAtATime(channel, SSL_REQUEST);
        assertSame(SslRequest.INSTANCE, channel.readInbound());
        writeByteAtATime(channel, concat(STARTUP, frames));

        assertInstanceOf(StartupMessage.class, channel.readInbound());
        assertArrayEquals(frames, drainBatches(channel));
        assertFalse(channel.finish());
    }

    @Test
    void frameDecoderGetsTheConfiguredMaximum() {
        EmbeddedChannel channel = new EmbeddedChannel(new StartupDecoder(10000, 100));

        channel.writeInbound(buffer(STARTUP));
        assertInstanceOf(StartupMessage.class, channel.readInbound());

        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(buffer(hex("51 00000065"))));
        assertTrue(e.getMessage().startsWith("oversized packet"), e.getMessage());
        assertFalse(channel.finish());
    }

    @Test
    void emptyParameterListIsValid() {
        EmbeddedChannel channel = channel();

        channel.writeInbound(buffer(startupPacket(Protocol.PROTOCOL_VERSION_3_0, new byte[] {0})));

        StartupMessage startup = channel.readInbound();
        assertEquals(Map.of(), startup.parameters());
        assertFalse(channel.finish());
    }

    @Test
    void protocolOptionsOfANewerMinorVersionAreParsed() {
        EmbeddedChannel channel = channel();
        int version = Protocol.protocolVersion(3, 2);

        channel.writeInbound(buffer(startupPacket(version, concat(
                cString("user"), cString("bob"), cString("_pq_.compression"), cString("on"), new byte[] {0}))));

        StartupMessage startup = channel.readInbound();
        assertEquals(2, startup.minorVersion());
        assertEquals(Map.of("user", "bob", "_pq_.compression", "on"), startup.parameters());
        assertFalse(channel.finish());
    }

    @Test
    void otherMajorVersionsAreEmittedUnparsedForThePoolerToRefuse() {
        EmbeddedChannel channel = channel();
        // A version 2.0 startup packet: fixed-width fields, not name/value pairs.
        byte[] body = new byte[288];
        System.arraycopy("alice".getBytes(), 0, body, 64, 5);

        channel.writeInbound(buffer(startupPacket(Protocol.protocolVersion(2, 0), body)));

        StartupMessage startup = channel.readInbound();
        assertEquals(2, startup.majorVersion());
        assertEquals(Map.of(), startup.parameters());
        assertFalse(channel.finish());
    }

    @Test
    void lengthBelowEightIsABadPacketHeader() {
        EmbeddedChannel channel = channel();

        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(buffer(hex("00000007 04d2162f"))));

        assertEquals("bad packet header: '0000000704d2162f'", e.getMessage());
        assertFalse(channel.finish());
    }

    @Test
    void hugeLengthIsRefusedAsSoonAsTheLengthArrives() {
        EmbeddedChannel channel = new EmbeddedChannel(new StartupDecoder(10000, 1 << 20));

        ProtocolException e = assertThrows(ProtocolException.class,
                () -> channel.writeInbound(buffer(hex("00002711"))));

        assertEquals("bad packet header: '00002711'", e.getMessage());
        assertFalse(channel.finish());
    }

    @Test
    void lengthAtTheMaximumIsAccepted() {
        EmbeddedChannel channel = new EmbeddedChannel(new StartupDecoder(100, 1 << 20));
        byte[] value = new byte[100 - 8 - 2 - 2];
        Arrays.fill(value, (byte) 'x');

        channel.writeInbound(buffer(startupPacket(Protocol.PROTOCOL_VERSION_3_0,
                concat(cString("u"), value, new byte[] {0, 0}))));

        StartupMessage startup = channel.readInbound();
        assertEquals(88, startup.parameter("u").length());
        assertFalse(channel.finish());
    }

    @Test
    void garbageIsRefused() {
        for (String garbage : List.of("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\u0016\u0003\u0001\u0002\u0000\u0001")) {
            EmbeddedChannel channel = channel();

            ProtocolException e = assertThrows(ProtocolException.class,
                    () -> channel.writeInbound(buffer(garbage.getBytes())));

            assertTrue(e.getMessage().startsWith("bad packet header: '"), e.getMessage());
            assertNull(channel.readInbound());
            assertFalse(channel.finish());
        }
    }

    @Test
    void malformedParameterListsAreRefused() {
        List<byte[]> bodies = List.of(
                new byte[0],                                                        // no terminator at all
                concat(cString("user"), cString("alice")),                          // missing final terminator
                concat(cString("user"), cString("alice"), cString("database")),     // name without value
                concat(cString("user"), "alice".getBytes()),                        // value runs to the end
                concat(cString("user"), cString("alice"), new byte[] {0, 'x'}));    // data after terminator
        for (byte[] body : bodies) {
            EmbeddedChannel channel = channel();
            ByteBuf input = buffer(startupPacket(Protocol.PROTOCOL_VERSION_3_0, body));

            ProtocolException e = assertThrows(ProtocolException.class, () -> channel.writeInbound(input));

            assertEquals("invalid startup packet layout: expected terminator as last byte", e.getMessage());
            assertNull(channel.readInbound());
            assertInstanceOf(StartupDecoder.class, channel.pipeline().first(), "not replaced after an error");
            assertEquals(0, input.refCnt());
            assertFalse(channel.finish());
        }
    }

    @Test
    void inputAfterAnErrorIsDiscardedWithoutAnotherError() {
        EmbeddedChannel channel = channel();
        assertThrows(ProtocolException.class, () -> channel.writeInbound(buffer(hex("00000004"))));

        ByteBuf more = buffer(STARTUP);
        channel.writeInbound(more);

        assertNull(channel.readInbound());
        assertEquals(0, more.refCnt());
        assertFalse(channel.finish());
    }

    @Test
    void incompletePacketAtCloseIsReleasedSilently() {
        EmbeddedChannel channel = channel();
        ByteBuf input = buffer(Arrays.copyOf(STARTUP, 10));

        channel.writeInbound(input);

        assertFalse(channel.finish());
        assertEquals(0, input.refCnt());
    }

    @Test
    void cancelRequestHidesTheSecretKeyFromLogs() {
        assertFalse(new CancelRequest(1, 0x5ec2e7).toString().contains(Integer.toString(0x5ec2e7)));
    }
}
