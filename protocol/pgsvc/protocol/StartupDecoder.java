package pgsvc.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Decodes the untyped packets a client opens a connection with (int32 length including itself, int32 code) into
 * {@link StartupPacket}s, then hands the connection over to a {@link FrameDecoder}.
 *
 * <ul>
 *   <li>SSLRequest, GSSENCRequest: emitted; the decoder stays, because after the pooler's one-byte answer the client
 *       sends another startup packet (over TLS if the answer was 'S').</li>
 *   <li>CancelRequest: emitted; the decoder stays and any further byte is a protocol violation.</li>
 *   <li>StartupMessage: emitted, then the decoder replaces itself with a {@link FrameDecoder} named
 *       {@link FrameDecoder#NAME} (or only removes itself, when the next handler frames raw bytes itself). Bytes
 *       already read after the StartupMessage are not lost: ByteToMessageDecoder passes its leftover cumulation to
 *       the next handler, the new FrameDecoder, when this one is removed. So
 *       frames a client pipelined behind its StartupMessage reach the next handler right after it, before any
 *       answer: the pooler must hold them (or refuse them) until login is done.</li>
 * </ul>
 *
 * <p>Direct TLS (PostgreSQL 17's {@code sslnegotiation=direct}): when the decoder is given a TLS handler factory and
 * the connection's first byte is a TLS handshake record (0x16, where a startup packet's length would start), the
 * decoder puts that handler in its own place, named {@link #TLS_NAME}, with a new StartupDecoder behind it; what it
 * had read goes on to the TLS handler, and the StartupMessage is then decoded from inside TLS. Whether the client
 * also negotiated ALPN is for the pooler to check once the handshake is done.
 *
 * <p>After throwing a {@link ProtocolException} the decoder discards all further input: the pooler answers with a
 * FATAL ErrorResponse and closes, and nothing the client sends meanwhile should produce a second error.
 *
 * <p>Buffers: input is consumed (released by ByteToMessageDecoder); the emitted packets hold no buffers.
 */
public final class StartupDecoder extends ByteToMessageDecoder {

    /** Suggested pipeline name, so the pooler can find the decoder during startup. */
    public static final String NAME = "startupDecoder";
    /** Pipeline name of the TLS handler a direct-TLS connection gets. */
    public static final String TLS_NAME = "tls";

    /** The content type of a TLS handshake record, the first byte of a ClientHello. */
    private static final byte TLS_HANDSHAKE_RECORD = 0x16;

    private static final int HEADER_LENGTH = 8;
    private static final int CANCEL_REQUEST_LENGTH = 16;
    private static final int HEX_DUMP_LENGTH = 8;

    private final int maxStartupPacketLength;
    private final int maxFrameLength;
    /** Makes the TLS handler for a direct-TLS connection; null when direct TLS is not accepted. */
    private final Supplier<? extends ChannelHandler> directTls;
    /** The next handler frames raw bytes itself: no FrameDecoder takes this decoder's place. */
    private final boolean nextFrames;
    /** Whether any byte was decoded: direct TLS can only be the connection's very first bytes. */
    private boolean started;
    private boolean cancelRequested;
    private boolean failed;

    /** PostgreSQL's limits: 10000 bytes for the startup packet, {@link FrameDecoder#DEFAULT_MAX_FRAME_LENGTH}. */
    public StartupDecoder() {
        this(Protocol.DEFAULT_MAX_STARTUP_PACKET_LENGTH, FrameDecoder.DEFAULT_MAX_FRAME_LENGTH);
    }

    /**
     * @param maxStartupPacketLength largest accepted value of a startup packet's length field
     * @param maxFrameLength         passed to the {@link FrameDecoder} that replaces this decoder
     */
    public StartupDecoder(int maxStartupPacketLength, int maxFrameLength) {
        this(maxStartupPacketLength, maxFrameLength, null);
    }

    /**
     * @param maxStartupPacketLength largest accepted value of a startup packet's length field
     * @param maxFrameLength         passed to the {@link FrameDecoder} that replaces this decoder
     * @param directTls              makes the TLS handler for a connection that starts with a TLS ClientHello; null
     *                               to refuse such a connection as a bad packet header
     */
    public StartupDecoder(int maxStartupPacketLength, int maxFrameLength,
                          Supplier<? extends ChannelHandler> directTls) {
        this(maxStartupPacketLength, maxFrameLength, directTls, false);
    }

    /**
     * @param maxStartupPacketLength largest accepted value of a startup packet's length field
     * @param maxFrameLength         passed to the {@link FrameDecoder} that replaces this decoder
     * @param directTls              makes the TLS handler for a connection that starts with a TLS ClientHello; null
     *                               to refuse such a connection as a bad packet header
     * @param nextFrames             whether the next handler frames raw bytes itself (with a {@link Framer}): then
     *                               the decoder only removes itself after the StartupMessage, and what follows reaches
     *                               that handler as raw bytes
     */
    public StartupDecoder(int maxStartupPacketLength, int maxFrameLength,
                          Supplier<? extends ChannelHandler> directTls, boolean nextFrames) {
        if (maxStartupPacketLength < CANCEL_REQUEST_LENGTH) {
            throw new IllegalArgumentException("maxStartupPacketLength too small: " + maxStartupPacketLength);
        }
        FrameDecoder.checkMaxFrameLength(maxFrameLength);
        this.maxStartupPacketLength = maxStartupPacketLength;
        this.maxFrameLength = maxFrameLength;
        this.directTls = directTls;
        this.nextFrames = nextFrames;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (cancelRequested) {
            throw fail(in, "unexpected data after cancel request");
        }
        if (!started && directTls != null && in.isReadable()
                && in.getByte(in.readerIndex()) == TLS_HANDSHAKE_RECORD) {
            startDirectTls(ctx);
            return;
        }
        started = true;
        // Check the length as soon as it has arrived, so that garbage (an HTTP request, a TLS ClientHello sent
        // without SSLRequest) is refused at once instead of after waiting for bytes that never come.
        if (in.readableBytes() < 4) {
            return;
        }
        int start = in.readerIndex();
        int length = in.getInt(start);
        if (length < HEADER_LENGTH || length > maxStartupPacketLength) {
            throw fail(in, badPacketHeader(in));
        }
        if (in.readableBytes() < length) {
            return;
        }
        int code = in.getInt(start + 4);
        switch (code) {
            case Protocol.SSL_REQUEST_CODE:
                decodeEncryptionRequest(in, length, "received unencrypted data after SSL request");
                out.add(SslRequest.INSTANCE);
                break;
            case Protocol.GSSENC_REQUEST_CODE:
                decodeEncryptionRequest(in, length, "received unencrypted data after GSSAPI encryption request");
                out.add(GssEncRequest.INSTANCE);
                break;
            case Protocol.CANCEL_REQUEST_CODE:
                if (length != CANCEL_REQUEST_LENGTH) {
                    throw fail(in, "bad cancel request");
                }
                out.add(new CancelRequest(in.getInt(start + 8), in.getInt(start + 12)));
                in.skipBytes(length);
                cancelRequested = true;
                break;
            default:
                out.add(new StartupMessage(code, parseParameters(in, code, start + HEADER_LENGTH, start + length)));
                in.skipBytes(length);
                if (nextFrames) {
                    ctx.pipeline().remove(this);
                } else {
                    ctx.pipeline().replace(this, FrameDecoder.NAME, new FrameDecoder(maxFrameLength));
                }
                break;
        }
    }

    /**
     * Hands the connection to a TLS handler in this decoder's place. ByteToMessageDecoder passes what this decoder
     * has buffered (the ClientHello so far) to the handler that replaced it once decode() returns.
     */
    private void startDirectTls(ChannelHandlerContext ctx) {
        String name = ctx.name();
        StartupDecoder inside = new StartupDecoder(maxStartupPacketLength, maxFrameLength, null, nextFrames);
        inside.started = true;
        ctx.pipeline().replace(this, TLS_NAME, directTls.get());
        ctx.pipeline().addAfter(TLS_NAME, name, inside);
    }

    /**
     * A client must wait for the one-byte answer before sending anything else, so bytes already buffered behind the
     * request were not sent in reply to it: if the answer is 'S' they would pass as TLS-protected input although
     * they travelled in clear, possibly put there by a man in the middle (CVE-2021-3935, CVE-2021-23214). PostgreSQL
     * and PgBouncer refuse them whatever the answer; so do we, before the pooler gets to answer.
     */
    private void decodeEncryptionRequest(ByteBuf in, int length, String unencryptedDataMessage) {
        if (length != HEADER_LENGTH) {
            throw fail(in, badPacketHeader(in));
        }
        in.skipBytes(length);
        if (in.isReadable()) {
            throw fail(in, unencryptedDataMessage);
        }
    }

    private Map<String, String> parseParameters(ByteBuf in, int protocolVersion, int from, int end) {
        Map<String, String> parameters = new LinkedHashMap<>();
        if (Protocol.majorVersion(protocolVersion) != 3) {
            // Another layout (2.0 has fixed-width fields); the pooler refuses these versions without reading them.
            return parameters;
        }
        int index = from;
        while (true) {
            int nameEnd = index < end ? in.indexOf(index, end, (byte) 0) : -1;
            if (nameEnd < 0) {
                throw fail(in, "invalid startup packet layout: expected terminator as last byte");
            }
            if (nameEnd == index) {
                if (index != end - 1) {
                    throw fail(in, "invalid startup packet layout: expected terminator as last byte");
                }
                return parameters;
            }
            int valueEnd = in.indexOf(nameEnd + 1, end, (byte) 0);
            if (valueEnd < 0) {
                throw fail(in, "invalid startup packet layout: expected terminator as last byte");
            }
            String name = in.toString(index, nameEnd - index, StandardCharsets.UTF_8);
            String value = in.toString(nameEnd + 1, valueEnd - nameEnd - 1, StandardCharsets.UTF_8);
            parameters.put(name, value);
            index = valueEnd + 1;
        }
    }

    private ProtocolException fail(ByteBuf in, String message) {
        failed = true;
        in.skipBytes(in.readableBytes());
        return new ProtocolException(message);
    }

    /** PgBouncer's wording, with the first bytes in hex so the log shows what kind of client knocked. */
    private static String badPacketHeader(ByteBuf in) {
        int length = Math.min(in.readableBytes(), HEX_DUMP_LENGTH);
        return "bad packet header: '" + ByteBufUtil.hexDump(in, in.readerIndex(), length) + "'";
    }
}
