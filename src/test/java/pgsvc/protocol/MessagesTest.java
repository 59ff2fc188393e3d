package pgsvc.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static pgsvc.protocol.TestBuffers.buffer;
import static pgsvc.protocol.TestBuffers.hex;

import io.netty.buffer.AbstractByteBufAllocator;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

class MessagesTest {

    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    /** Encodes into a fresh buffer and returns the bytes written, in hex. */
    private static String encode(Function<ByteBuf, ByteBuf> encoder) {
        ByteBuf buf = TestBuffers.buffer();
        try {
            assertSame(buf, encoder.apply(buf), "returns the buffer it wrote to");
            return ByteBufUtil.hexDump(buf);
        } finally {
            buf.release();
        }
    }

    /** Encodes into a fresh buffer behind another frame, so readers must use absolute indexes, and reads it back. */
    private static <T> T roundTrip(Function<ByteBuf, ByteBuf> encoder, Function<ByteBuf, T> reader) {
        ByteBuf buf = TestBuffers.buffer();
        try {
            buf.writeBytes(hex("53 00000004"));
            encoder.apply(buf);
            buf.skipBytes(5);
            assertEquals(buf.readableBytes(), FrameDecoder.frameLength(buf, buf.readerIndex()), "one whole frame");
            int readerIndex = buf.readerIndex();
            T value = reader.apply(buf);
            assertEquals(readerIndex, buf.readerIndex(), "readers leave the reader index alone");
            return value;
        } finally {
            buf.release();
        }
    }

    private static int authenticationCode(Function<ByteBuf, ByteBuf> encoder) {
        return roundTrip(encoder, Messages::readAuthenticationCode);
    }

    private static byte transactionStatus(Function<ByteBuf, ByteBuf> encoder) {
        return roundTrip(encoder, Messages::readTransactionStatus);
    }

    @Test
    void exactBytesOfFixedMessages() {
        assertEquals("5a0000000549", encode(out -> Messages.readyForQuery(out, Protocol.TransactionStatus.IDLE)));
        assertEquals("520000000800000000", encode(Messages::authenticationOk));
        assertEquals("520000000800000003", encode(Messages::authenticationCleartextPassword));
        assertEquals("520000000c0000000501020304",
                encode(out -> Messages.authenticationMD5Password(out, new byte[] {1, 2, 3, 4})));
        assertEquals("4b0000000c00003039deadbeef", encode(out -> Messages.backendKeyData(out, 12345, 0xdeadbeef)));
        assertEquals("5800000004", encode(Messages::terminate));
        assertEquals("4900000004", encode(Messages::emptyQueryResponse));
        assertEquals("0000001004d2162e00003039deadbeef", encode(out -> Messages.cancelRequest(out, 12345, 0xdeadbeef)));
    }

    @Test
    void exactBytesOfAnErrorResponse() {
        // PgBouncer's own errors carry S, C and M only (no V), and pgsvc's match them byte for byte.
        String expected = "45" + "00000018"
                + "53" + "464154414c00"          // S FATAL
                + "43" + "303850303100"          // C 08P01
                + "4d" + "62616400"              // M bad
                + "00";

        assertEquals(expected, encode(out -> Messages.errorResponse(out, "FATAL", "08P01", "bad")));
    }

    @Test
    void exactBytesOfAQuery() {
        assertEquals("510000000d53454c4543542031" + "00", encode(out -> Messages.query(out, "SELECT 1")));
    }

    @Test
    void errorResponseRoundTrip() {
        ErrorFields fields = roundTrip(
                out -> Messages.errorResponse(out, "ERROR", "53300", "no more connections allowed (max_client_conn)",
                        "détail", "raise max_client_conn"),
                Messages::readErrorFields);

        assertEquals("ERROR", fields.severity());
        assertEquals("ERROR", fields.localizedSeverity());
        assertEquals("53300", fields.sqlState());
        assertEquals("no more connections allowed (max_client_conn)", fields.message());
        assertEquals("détail", fields.detail());
        assertEquals("raise max_client_conn", fields.hint());
        assertEquals(List.of('S', 'C', 'M', 'D', 'H'), List.copyOf(fields.fields().keySet()));
    }

    @Test
    void noticeResponseRoundTripWithoutOptionalFields() {
        ErrorFields fields = roundTrip(out -> Messages.noticeResponse(out, "NOTICE", "00000", "hello"),
                Messages::readErrorFields);

        assertEquals("NOTICE", fields.severity());
        assertEquals("hello", fields.message());
        assertNull(fields.detail());
        assertNull(fields.hint());
        assertNull(fields.field('W'));
    }

    @Test
    void errorFromAServerPrefersTheNonLocalizedSeverity() {
        // As PostgreSQL sends it with lc_messages=de_DE: S is translated, V is not.
        byte[] body = TestBuffers.concat(hex("53"), TestBuffers.cString("FEHLER"), hex("56"),
                TestBuffers.cString("ERROR"), hex("43"), TestBuffers.cString("57P01"), hex("4d"),
                TestBuffers.cString("terminating connection due to administrator command"), hex("00"));
        ByteBuf frame = buffer(TestBuffers.frame('E', body));
        try {
            ErrorFields fields = Messages.readErrorFields(frame);
            assertEquals("ERROR", fields.severity());
            assertEquals("FEHLER", fields.localizedSeverity());
            assertEquals("57P01", fields.sqlState());
        } finally {
            frame.release();
        }
    }

    @Test
    void parameterStatusRoundTrip() {
        assertEquals(new ParameterStatus("TimeZone", "Europe/Zürich"),
                roundTrip(out -> Messages.parameterStatus(out, "TimeZone", "Europe/Zürich"),
                        Messages::readParameterStatus));
        assertEquals(new ParameterStatus("application_name", ""),
                roundTrip(out -> Messages.parameterStatus(out, "application_name", ""),
                        Messages::readParameterStatus));
    }

    @Test
    void backendKeyDataAndReadyForQueryRoundTrip() {
        assertEquals(new BackendKeyData(-7, 42),
                roundTrip(out -> Messages.backendKeyData(out, -7, 42), Messages::readBackendKeyData));
        assertEquals(Protocol.TransactionStatus.FAILED,
                transactionStatus(out -> Messages.readyForQuery(out, Protocol.TransactionStatus.FAILED)));
    }

    @Test
    void authenticationRoundTrips() {
        assertEquals(Protocol.AuthenticationCode.OK,
                authenticationCode(Messages::authenticationOk));
        assertEquals(Protocol.AuthenticationCode.CLEARTEXT_PASSWORD,
                authenticationCode(Messages::authenticationCleartextPassword));
        byte[] salt = {9, 8, 7, 6};
        assertEquals(Protocol.AuthenticationCode.MD5_PASSWORD,
                authenticationCode(out -> Messages.authenticationMD5Password(out, salt)));
        assertArrayEquals(salt,
                roundTrip(out -> Messages.authenticationMD5Password(out, salt), Messages::readAuthenticationData));

        List<String> mechanisms = List.of("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256");
        assertEquals(Protocol.AuthenticationCode.SASL,
                authenticationCode(out -> Messages.authenticationSASL(out, mechanisms)));
        assertEquals(mechanisms,
                roundTrip(out -> Messages.authenticationSASL(out, mechanisms), Messages::readSaslMechanisms));

        byte[] serverFirst = "r=abc,s=c2FsdA==,i=4096".getBytes(StandardCharsets.US_ASCII);
        assertEquals(Protocol.AuthenticationCode.SASL_CONTINUE,
                authenticationCode(out -> Messages.authenticationSASLContinue(out, serverFirst)));
        assertArrayEquals(serverFirst, roundTrip(out -> Messages.authenticationSASLContinue(out, serverFirst),
                Messages::readAuthenticationData));
        byte[] serverFinal = "v=c2lnbmF0dXJl".getBytes(StandardCharsets.US_ASCII);
        assertEquals(Protocol.AuthenticationCode.SASL_FINAL,
                authenticationCode(out -> Messages.authenticationSASLFinal(out, serverFinal)));
        assertArrayEquals(serverFinal, roundTrip(out -> Messages.authenticationSASLFinal(out, serverFinal),
                Messages::readAuthenticationData));
    }

    @Test
    void passwordAndSaslResponsesRoundTrip() {
        assertEquals("md5e5b1ee7d5fb8e28c0fa1c2a9a6d7d0a0",
                roundTrip(out -> Messages.passwordMessage(out, "md5e5b1ee7d5fb8e28c0fa1c2a9a6d7d0a0"),
                        Messages::readPasswordMessage));

        byte[] clientFirst = "n,,n=,r=rOprNGfwEbeRWgbNEkqO".getBytes(StandardCharsets.US_ASCII);
        SaslInitialResponse initial = roundTrip(
                out -> Messages.saslInitialResponse(out, "SCRAM-SHA-256", clientFirst),
                Messages::readSaslInitialResponse);
        assertEquals("SCRAM-SHA-256", initial.mechanism());
        assertArrayEquals(clientFirst, initial.data());

        SaslInitialResponse withoutData = roundTrip(out -> Messages.saslInitialResponse(out, "SCRAM-SHA-256", null),
                Messages::readSaslInitialResponse);
        assertNull(withoutData.data());

        byte[] clientFinal = "c=biws,r=abc,p=cHJvb2Y=".getBytes(StandardCharsets.US_ASCII);
        assertArrayEquals(clientFinal,
                roundTrip(out -> Messages.saslResponse(out, clientFinal), Messages::readSaslResponse));
    }

    @Test
    void dataRowRoundTripWithNullAndEmptyValues() {
        List<String> values = Arrays.asList("pgbouncer", null, "", "3");

        assertEquals(values, roundTrip(out -> Messages.dataRow(out, values), Messages::readDataRow));
    }

    @Test
    void rowDescriptionLayout() {
        List<Messages.Column> columns = List.of(new Messages.Column("database", Protocol.Oid.TEXT),
                new Messages.Column("cl_active", Protocol.Oid.INT4));
        ByteBuf buf = Messages.rowDescription(ALLOC, columns);
        try {
            assertEquals(Protocol.Backend.ROW_DESCRIPTION, buf.readByte());
            int length = buf.readInt();
            assertEquals(length - 4, buf.readableBytes());
            assertEquals(2, buf.readShort());
            assertEquals("database", Messages.readCString(buf));
            assertEquals(0, buf.readInt(), "table OID");
            assertEquals(0, buf.readShort(), "attribute number");
            assertEquals(Protocol.Oid.TEXT, buf.readInt());
            assertEquals(-1, buf.readShort(), "text is variable length");
            assertEquals(-1, buf.readInt(), "type modifier");
            assertEquals(0, buf.readShort(), "text format");
            assertEquals("cl_active", Messages.readCString(buf));
            buf.skipBytes(6);
            assertEquals(Protocol.Oid.INT4, buf.readInt());
            assertEquals(4, buf.readShort());
            buf.skipBytes(6);
            assertFalse(buf.isReadable());
        } finally {
            buf.release();
        }
    }

    @Test
    void commandCompleteAndNegotiateProtocolVersionLayout() {
        assertEquals("43" + "00000009" + "53484f5700", encode(out -> Messages.commandComplete(out, "SHOW")));
        String negotiate = encode(out -> Messages.negotiateProtocolVersion(out, 0, List.of("_pq_.x")));
        assertEquals("76" + "00000013" + "00000000" + "00000001" + "5f70715f2e7800", negotiate);
    }

    @Test
    void startupMessageIsReadBackByTheStartupDecoder() {
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("user", "pgsvc");
        parameters.put("database", "shop");
        parameters.put("application_name", "pgsvc-ß");
        EmbeddedChannel channel = new EmbeddedChannel(new StartupDecoder());

        channel.writeInbound(Messages.startupMessage(ALLOC, parameters));
        channel.writeInbound(Messages.query(ALLOC, "SELECT 1"));

        StartupMessage startup = channel.readInbound();
        assertEquals(Protocol.PROTOCOL_VERSION_3_0, startup.protocolVersion());
        assertEquals(List.copyOf(parameters.entrySet()), List.copyOf(startup.parameters().entrySet()));
        ByteBuf batch = channel.readInbound();
        assertEquals("SELECT 1", Messages.readCString(batch, FrameDecoder.bodyIndex(batch.readerIndex()),
                batch.writerIndex()));
        batch.release();
        assertFalse(channel.finish());
    }

    @Test
    void cancelRequestIsReadBackByTheStartupDecoder() {
        EmbeddedChannel channel = new EmbeddedChannel(new StartupDecoder());

        channel.writeInbound(Messages.cancelRequest(ALLOC, 4711, -2));

        assertEquals(new CancelRequest(4711, -2), channel.readInbound());
        assertFalse(channel.finish());
    }

    @Test
    void allocatingFormsWriteTheSameBytes() {
        List<Function<ByteBuf, ByteBuf>> into = List.of(
                out -> Messages.errorResponse(out, "FATAL", "08P01", "x", "d", "h"),
                out -> Messages.noticeResponse(out, "WARNING", "01000", "y"),
                out -> Messages.parameterStatus(out, "a", "b"),
                out -> Messages.authenticationSASL(out, List.of("SCRAM-SHA-256")),
                out -> Messages.query(out, "SELECT 2"),
                out -> Messages.dataRow(out, Arrays.asList("1", null)),
                out -> Messages.startupMessage(out, Map.of("user", "u")));
        List<ByteBuf> allocated = List.of(
                Messages.errorResponse(ALLOC, "FATAL", "08P01", "x", "d", "h"),
                Messages.noticeResponse(ALLOC, "WARNING", "01000", "y"),
                Messages.parameterStatus(ALLOC, "a", "b"),
                Messages.authenticationSASL(ALLOC, List.of("SCRAM-SHA-256")),
                Messages.query(ALLOC, "SELECT 2"),
                Messages.dataRow(ALLOC, Arrays.asList("1", null)),
                Messages.startupMessage(ALLOC, Map.of("user", "u")));
        for (int i = 0; i < into.size(); i++) {
            ByteBuf buf = allocated.get(i);
            try {
                assertEquals(encode(into.get(i)), ByteBufUtil.hexDump(buf), "message " + i);
            } finally {
                buf.release();
            }
        }
    }

    @Test
    void severalMessagesAppendToOneBuffer() {
        ByteBuf out = TestBuffers.buffer();
        try {
            Messages.readyForQuery(Messages.parameterStatus(Messages.authenticationOk(out), "a", "b"),
                    Protocol.TransactionStatus.IDLE);
            assertEquals(3, FrameDecoder.frameCount(out));
            assertEquals(Protocol.TransactionStatus.IDLE, Messages.readTransactionStatus(out, out.writerIndex() - 6));
        } finally {
            out.release();
        }
    }

    @Test
    void stringsWithNulAreRefusedAndTheAllocatedBufferReleased() {
        RecordingAllocator alloc = new RecordingAllocator();

        assertThrows(IllegalArgumentException.class, () -> Messages.query(alloc, "SELECT 1\0; DROP TABLE t"));

        assertEquals(0, alloc.last.refCnt());
        ByteBuf out = TestBuffers.buffer();
        try {
            assertThrows(IllegalArgumentException.class, () -> Messages.parameterStatus(out, "a\0", "b"));
            assertThrows(IllegalArgumentException.class, () -> Messages.startupMessage(out, Map.of("", "x")));
            assertThrows(IllegalArgumentException.class, () -> Messages.authenticationMD5Password(out, new byte[3]));
        } finally {
            out.release();
        }
    }

    @Test
    void readersRefuseTheWrongTypeAndTruncatedFrames() {
        ByteBuf query = Messages.query(ALLOC, "SELECT 1");
        try {
            assertThrows(ProtocolException.class, () -> Messages.readErrorFields(query));
            assertThrows(ProtocolException.class, () -> Messages.readAuthenticationCode(query));
            assertThrows(ProtocolException.class, () -> Messages.readParameterStatus(query));
        } finally {
            query.release();
        }
        ByteBuf truncated = buffer(Arrays.copyOf(TestBuffers.frame('S', "TimeZone\0UTC"), 10));
        try {
            assertThrows(ProtocolException.class, () -> Messages.readParameterStatus(truncated));
        } finally {
            truncated.release();
        }
        ByteBuf unterminated = buffer(TestBuffers.frame('E', "SFATAL".getBytes(StandardCharsets.US_ASCII)));
        try {
            assertThrows(ProtocolException.class, () -> Messages.readErrorFields(unterminated));
        } finally {
            unterminated.release();
        }
        ByteBuf okInsteadOfSasl = Messages.authenticationOk(ALLOC);
        try {
            assertThrows(ProtocolException.class, () -> Messages.readSaslMechanisms(okInsteadOfSasl));
        } finally {
            okInsteadOfSasl.release();
        }
        ByteBuf shortDataRow = buffer(TestBuffers.frame('D', hex("0002 00000001 41")));
        try {
            assertThrows(ProtocolException.class, () -> Messages.readDataRow(shortDataRow));
        } finally {
            shortDataRow.release();
        }
    }

    @Test
    void readCStringAdvancesPastTheNul() {
        ByteBuf buf = buffer(TestBuffers.concat(TestBuffers.cString("één"), TestBuffers.cString("")));
        try {
            assertEquals("één", Messages.readCString(buf));
            assertEquals("", Messages.readCString(buf));
            assertFalse(buf.isReadable());
            assertThrows(ProtocolException.class, () -> Messages.readCString(buf));
        } finally {
            buf.release();
        }
    }

    /** Remembers the last buffer it handed out, to check that a failed encoder released it. */
    private static final class RecordingAllocator extends AbstractByteBufAllocator {
        private ByteBuf last;

        @Override
        protected ByteBuf newHeapBuffer(int initialCapacity, int maxCapacity) {
            last = ALLOC.heapBuffer(initialCapacity, maxCapacity);
            return last;
        }

        @Override
        protected ByteBuf newDirectBuffer(int initialCapacity, int maxCapacity) {
            last = ALLOC.directBuffer(initialCapacity, maxCapacity);
            return last;
        }

        @Override
        public boolean isDirectBufferPooled() {
            return false;
        }
    }
}
