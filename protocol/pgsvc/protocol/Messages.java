package pgsvc.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Encoders and readers for the messages the pooler itself produces or inspects.
 *
 * <p>Encoders come in two forms. {@code xxx(ByteBuf out, ...)} appends the message to {@code out} and returns it,
 * so several messages can go into one buffer and one {@code write()}. {@code xxx(ByteBufAllocator alloc, ...)}
 * returns a new buffer that the caller owns; if encoding fails (a string containing NUL) the buffer is released
 * before the exception propagates. Strings are written as UTF-8, the encoding PgBouncer requires of clients; a string
 * field containing NUL is refused with {@link IllegalArgumentException} since it would end the field early and let
 * the rest pass as further fields.
 *
 * <p>Readers take a buffer and the index of a frame's type byte, read with absolute gets and leave the reader index
 * alone, so they can be used while walking a {@link FrameDecoder} batch; the one-argument forms read the frame at
 * the buffer's reader index. A frame that is shorter than its content claims, or not of the expected type, gives a
 * {@link ProtocolException}.
 */
public final class Messages {

    /** A column of a RowDescription the pooler sends (console, SHOW): text format, no table. */
    public record Column(String name, int typeOid) {
    }

    private static final int HEADER_LENGTH = FrameDecoder.HEADER_LENGTH;

    private Messages() {
    }

    // ---------------------------------------------------------------- backend messages

    /** ErrorResponse with severity (in both S and V), SQLSTATE and message. */
    public static ByteBuf errorResponse(ByteBuf out, String severity, String sqlState, String message) {
        return errorResponse(out, severity, sqlState, message, null, null);
    }

    /** ErrorResponse; {@code detail} and {@code hint} may be null. */
    public static ByteBuf errorResponse(ByteBuf out, String severity, String sqlState, String message, String detail,
            String hint) {
        return writeErrorOrNotice(out, Protocol.Backend.ERROR_RESPONSE, severity, sqlState, message, detail, hint);
    }

    public static ByteBuf errorResponse(ByteBufAllocator alloc, String severity, String sqlState, String message) {
        return errorResponse(alloc, severity, sqlState, message, null, null);
    }

    public static ByteBuf errorResponse(ByteBufAllocator alloc, String severity, String sqlState, String message,
            String detail, String hint) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return errorResponse(out, severity, sqlState, message, detail, hint);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    /** NoticeResponse with severity (in both S and V), SQLSTATE and message. */
    public static ByteBuf noticeResponse(ByteBuf out, String severity, String sqlState, String message) {
        return noticeResponse(out, severity, sqlState, message, null, null);
    }

    /** NoticeResponse; {@code detail} and {@code hint} may be null. */
    public static ByteBuf noticeResponse(ByteBuf out, String severity, String sqlState, String message, String detail,
            String hint) {
        return writeErrorOrNotice(out, Protocol.Backend.NOTICE_RESPONSE, severity, sqlState, message, detail, hint);
    }

    public static ByteBuf noticeResponse(ByteBufAllocator alloc, String severity, String sqlState, String message) {
        return noticeResponse(alloc, severity, sqlState, message, null, null);
    }

    public static ByteBuf noticeResponse(ByteBufAllocator alloc, String severity, String sqlState, String message,
            String detail, String hint) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return noticeResponse(out, severity, sqlState, message, detail, hint);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    private static ByteBuf writeErrorOrNotice(ByteBuf out, byte type, String severity, String sqlState,
            String message, String detail, String hint) {
        if (severity == null || sqlState == null || message == null) {
            throw new IllegalArgumentException("severity, SQLSTATE and message are required");
        }
        int start = beginMessage(out, type);
        // S, C, M only, as PgBouncer's own errors: clients and log tooling compare them field by field.
        writeField(out, Protocol.ErrorField.SEVERITY, severity);
        writeField(out, Protocol.ErrorField.SQLSTATE, sqlState);
        writeField(out, Protocol.ErrorField.MESSAGE, message);
        if (detail != null) {
            writeField(out, Protocol.ErrorField.DETAIL, detail);
        }
        if (hint != null) {
            writeField(out, Protocol.ErrorField.HINT, hint);
        }
        out.writeByte(0);
        return endMessage(out, start);
    }

    private static void writeField(ByteBuf out, byte code, String value) {
        out.writeByte(code);
        writeCString(out, value);
    }

    /** ReadyForQuery with a {@link Protocol.TransactionStatus} byte. */
    public static ByteBuf readyForQuery(ByteBuf out, byte transactionStatus) {
        return out.writeByte(Protocol.Backend.READY_FOR_QUERY).writeInt(5).writeByte(transactionStatus);
    }

    public static ByteBuf readyForQuery(ByteBufAllocator alloc, byte transactionStatus) {
        return readyForQuery(alloc.ioBuffer(6), transactionStatus);
    }

    public static ByteBuf authenticationOk(ByteBuf out) {
        return writeAuthenticationCode(out, Protocol.AuthenticationCode.OK);
    }

    public static ByteBuf authenticationOk(ByteBufAllocator alloc) {
        return authenticationOk(alloc.ioBuffer(9));
    }

    public static ByteBuf authenticationCleartextPassword(ByteBuf out) {
        return writeAuthenticationCode(out, Protocol.AuthenticationCode.CLEARTEXT_PASSWORD);
    }

    public static ByteBuf authenticationCleartextPassword(ByteBufAllocator alloc) {
        return authenticationCleartextPassword(alloc.ioBuffer(9));
    }

    private static ByteBuf writeAuthenticationCode(ByteBuf out, int code) {
        return out.writeByte(Protocol.Backend.AUTHENTICATION).writeInt(8).writeInt(code);
    }

    /** AuthenticationMD5Password with the 4-byte salt. */
    public static ByteBuf authenticationMD5Password(ByteBuf out, byte[] salt) {
        checkSalt(salt);
        return out.writeByte(Protocol.Backend.AUTHENTICATION).writeInt(12)
                .writeInt(Protocol.AuthenticationCode.MD5_PASSWORD).writeBytes(salt);
    }

    public static ByteBuf authenticationMD5Password(ByteBufAllocator alloc, byte[] salt) {
        checkSalt(salt);
        return authenticationMD5Password(alloc.ioBuffer(13), salt);
    }

    private static void checkSalt(byte[] salt) {
        if (salt == null || salt.length != 4) {
            throw new IllegalArgumentException("MD5 salt must have 4 bytes");
        }
    }

    /** AuthenticationSASL listing the mechanisms the server accepts, most preferred first. */
    public static ByteBuf authenticationSASL(ByteBuf out, List<String> mechanisms) {
        int start = beginMessage(out, Protocol.Backend.AUTHENTICATION);
        out.writeInt(Protocol.AuthenticationCode.SASL);
        for (String mechanism : mechanisms) {
            if (mechanism.isEmpty()) {
                throw new IllegalArgumentException("empty SASL mechanism name would end the list");
            }
            writeCString(out, mechanism);
        }
        out.writeByte(0);
        return endMessage(out, start);
    }

    public static ByteBuf authenticationSASL(ByteBufAllocator alloc, List<String> mechanisms) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return authenticationSASL(out, mechanisms);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    /** AuthenticationSASLContinue carrying the mechanism's challenge (server-first-message for SCRAM). */
    public static ByteBuf authenticationSASLContinue(ByteBuf out, byte[] data) {
        return writeAuthenticationData(out, Protocol.AuthenticationCode.SASL_CONTINUE, data);
    }

    public static ByteBuf authenticationSASLContinue(ByteBufAllocator alloc, byte[] data) {
        return authenticationSASLContinue(alloc.ioBuffer(9 + data.length), data);
    }

    /** AuthenticationSASLFinal carrying the mechanism's outcome (server-final-message for SCRAM). */
    public static ByteBuf authenticationSASLFinal(ByteBuf out, byte[] data) {
        return writeAuthenticationData(out, Protocol.AuthenticationCode.SASL_FINAL, data);
    }

    public static ByteBuf authenticationSASLFinal(ByteBufAllocator alloc, byte[] data) {
        return authenticationSASLFinal(alloc.ioBuffer(9 + data.length), data);
    }

    private static ByteBuf writeAuthenticationData(ByteBuf out, int code, byte[] data) {
        return out.writeByte(Protocol.Backend.AUTHENTICATION).writeInt(8 + data.length).writeInt(code)
                .writeBytes(data);
    }

    public static ByteBuf parameterStatus(ByteBuf out, String name, String value) {
        int start = beginMessage(out, Protocol.Backend.PARAMETER_STATUS);
        writeCString(out, name);
        writeCString(out, value);
        return endMessage(out, start);
    }

    public static ByteBuf parameterStatus(ByteBufAllocator alloc, String name, String value) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return parameterStatus(out, name, value);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    public static ByteBuf backendKeyData(ByteBuf out, int processId, int secretKey) {
        return out.writeByte(Protocol.Backend.BACKEND_KEY_DATA).writeInt(12).writeInt(processId).writeInt(secretKey);
    }

    public static ByteBuf backendKeyData(ByteBufAllocator alloc, int processId, int secretKey) {
        return backendKeyData(alloc.ioBuffer(13), processId, secretKey);
    }

    /** RowDescription for text-format columns that belong to no table. */
    public static ByteBuf rowDescription(ByteBuf out, List<Column> columns) {
        int start = beginMessage(out, Protocol.Backend.ROW_DESCRIPTION);
        out.writeShort(columns.size());
        for (Column column : columns) {
            writeCString(out, column.name());
            out.writeInt(0);                                   // table OID
            out.writeShort(0);                                 // column attribute number
            out.writeInt(column.typeOid());
            out.writeShort(Protocol.Oid.typeSize(column.typeOid()));
            out.writeInt(-1);                                  // type modifier
            out.writeShort(0);                                 // format: text
        }
        return endMessage(out, start);
    }

    public static ByteBuf rowDescription(ByteBufAllocator alloc, List<Column> columns) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return rowDescription(out, columns);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    /** DataRow of text values; a null element is SQL NULL. Values may contain NUL: they are length-prefixed. */
    public static ByteBuf dataRow(ByteBuf out, List<String> values) {
        int start = beginMessage(out, Protocol.Backend.DATA_ROW);
        out.writeShort(values.size());
        for (String value : values) {
            if (value == null) {
                out.writeInt(-1);
            } else {
                int lengthIndex = out.writerIndex();
                out.writeInt(0);
                int written = out.writeCharSequence(value, StandardCharsets.UTF_8);
                out.setInt(lengthIndex, written);
            }
        }
        return endMessage(out, start);
    }

    public static ByteBuf dataRow(ByteBufAllocator alloc, List<String> values) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return dataRow(out, values);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    /** CommandComplete with a command tag such as "SELECT 3" or "SHOW". */
    public static ByteBuf commandComplete(ByteBuf out, String tag) {
        int start = beginMessage(out, Protocol.Backend.COMMAND_COMPLETE);
        writeCString(out, tag);
        return endMessage(out, start);
    }

    public static ByteBuf commandComplete(ByteBufAllocator alloc, String tag) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return commandComplete(out, tag);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    public static ByteBuf emptyQueryResponse(ByteBuf out) {
        return out.writeByte(Protocol.Backend.EMPTY_QUERY_RESPONSE).writeInt(4);
    }

    public static ByteBuf emptyQueryResponse(ByteBufAllocator alloc) {
        return emptyQueryResponse(alloc.ioBuffer(5));
    }

    public static ByteBuf parseComplete(ByteBuf out) {
        return out.writeByte(Protocol.Backend.PARSE_COMPLETE).writeInt(4);
    }

    public static ByteBuf closeComplete(ByteBuf out) {
        return out.writeByte(Protocol.Backend.CLOSE_COMPLETE).writeInt(4);
    }

    /**
     * NegotiateProtocolVersion: the newest minor version of protocol 3 supported, and the protocol options
     * ({@code _pq_.*} startup parameters) that were not recognized.
     */
    public static ByteBuf negotiateProtocolVersion(ByteBuf out, int newestMinorVersion,
            List<String> unsupportedOptions) {
        int start = beginMessage(out, Protocol.Backend.NEGOTIATE_PROTOCOL_VERSION);
        out.writeInt(newestMinorVersion);
        out.writeInt(unsupportedOptions.size());
        for (String option : unsupportedOptions) {
            writeCString(out, option);
        }
        return endMessage(out, start);
    }

    public static ByteBuf negotiateProtocolVersion(ByteBufAllocator alloc, int newestMinorVersion,
            List<String> unsupportedOptions) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return negotiateProtocolVersion(out, newestMinorVersion, unsupportedOptions);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    // ---------------------------------------------------------------- frontend messages

    /** StartupMessage for protocol 3.0, parameters in iteration order. */
    public static ByteBuf startupMessage(ByteBuf out, Map<String, String> parameters) {
        int start = out.writerIndex();
        out.writeInt(0);
        out.writeInt(Protocol.PROTOCOL_VERSION_3_0);
        for (Map.Entry<String, String> parameter : parameters.entrySet()) {
            if (parameter.getKey().isEmpty()) {
                throw new IllegalArgumentException("empty startup parameter name would end the list");
            }
            writeCString(out, parameter.getKey());
            writeCString(out, parameter.getValue());
        }
        out.writeByte(0);
        out.setInt(start, out.writerIndex() - start);
        return out;
    }

    public static ByteBuf startupMessage(ByteBufAllocator alloc, Map<String, String> parameters) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return startupMessage(out, parameters);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    /** CancelRequest, sent alone on a new connection to the server. */
    public static ByteBuf cancelRequest(ByteBuf out, int processId, int secretKey) {
        return out.writeInt(16).writeInt(Protocol.CANCEL_REQUEST_CODE).writeInt(processId).writeInt(secretKey);
    }

    public static ByteBuf cancelRequest(ByteBufAllocator alloc, int processId, int secretKey) {
        return cancelRequest(alloc.ioBuffer(16), processId, secretKey);
    }

    /** SSLRequest, the first packet of a connection that asks the server for TLS. */
    public static ByteBuf sslRequest(ByteBufAllocator alloc) {
        return alloc.ioBuffer(8).writeInt(8).writeInt(Protocol.SSL_REQUEST_CODE);
    }

    /** PasswordMessage: a cleartext password or an "md5..." hash. */
    public static ByteBuf passwordMessage(ByteBuf out, String password) {
        int start = beginMessage(out, Protocol.Frontend.PASSWORD_MESSAGE);
        writeCString(out, password);
        return endMessage(out, start);
    }

    public static ByteBuf passwordMessage(ByteBufAllocator alloc, String password) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return passwordMessage(out, password);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    /** SASLInitialResponse; {@code data} null is sent as length -1 (no initial response). */
    public static ByteBuf saslInitialResponse(ByteBuf out, String mechanism, byte[] data) {
        int start = beginMessage(out, Protocol.Frontend.PASSWORD_MESSAGE);
        writeCString(out, mechanism);
        if (data == null) {
            out.writeInt(-1);
        } else {
            out.writeInt(data.length).writeBytes(data);
        }
        return endMessage(out, start);
    }

    public static ByteBuf saslInitialResponse(ByteBufAllocator alloc, String mechanism, byte[] data) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return saslInitialResponse(out, mechanism, data);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    /** SASLResponse (client-final-message for SCRAM). */
    public static ByteBuf saslResponse(ByteBuf out, byte[] data) {
        return out.writeByte(Protocol.Frontend.PASSWORD_MESSAGE).writeInt(4 + data.length).writeBytes(data);
    }

    public static ByteBuf saslResponse(ByteBufAllocator alloc, byte[] data) {
        return saslResponse(alloc.ioBuffer(5 + data.length), data);
    }

    /** Query (simple query protocol). */
    public static ByteBuf query(ByteBuf out, String sql) {
        int start = beginMessage(out, Protocol.Frontend.QUERY);
        writeCString(out, sql);
        return endMessage(out, start);
    }

    public static ByteBuf query(ByteBufAllocator alloc, String sql) {
        ByteBuf out = alloc.ioBuffer();
        try {
            return query(out, sql);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    public static ByteBuf terminate(ByteBuf out) {
        return out.writeByte(Protocol.Frontend.TERMINATE).writeInt(4);
    }

    public static ByteBuf terminate(ByteBufAllocator alloc) {
        return terminate(alloc.ioBuffer(5));
    }

    /**
     * Parse from raw parts: the statement name (ASCII or UTF-8 bytes, no NUL) and the rest of the body as a client
     * sent it (query string with its NUL, parameter count, parameter type OIDs).
     */
    public static ByteBuf parse(ByteBuf out, byte[] name, byte[] rest) {
        out.writeByte(Protocol.Frontend.PARSE).writeInt(4 + name.length + 1 + rest.length);
        return out.writeBytes(name).writeByte(0).writeBytes(rest);
    }

    /**
     * The start of a Parse whose remaining {@code restLength} body bytes (query string, parameter types) follow
     * elsewhere, unchanged: type, length and the new statement name.
     */
    public static ByteBuf parsePrefix(ByteBuf out, byte[] name, int restLength) {
        out.writeByte(Protocol.Frontend.PARSE).writeInt(4 + name.length + 1 + restLength);
        return out.writeBytes(name).writeByte(0);
    }

    /**
     * The start of a Bind whose remaining {@code restLength} body bytes (formats, parameter values, result formats)
     * follow elsewhere, unchanged: type, length, the portal name copied from {@code src} and the new statement name.
     */
    public static ByteBuf bindPrefix(ByteBuf out, ByteBuf src, int portalIndex, int portalLength, byte[] statement,
            int restLength) {
        out.writeByte(Protocol.Frontend.BIND).writeInt(4 + portalLength + 1 + statement.length + 1 + restLength);
        out.writeBytes(src, portalIndex, portalLength).writeByte(0);
        return out.writeBytes(statement).writeByte(0);
    }

    /** Describe of a statement ('S') or portal ('P') by name. */
    public static ByteBuf describe(ByteBuf out, byte kind, byte[] name) {
        out.writeByte(Protocol.Frontend.DESCRIBE).writeInt(4 + 1 + name.length + 1);
        return out.writeByte(kind).writeBytes(name).writeByte(0);
    }

    /** Close of a statement ('S') or portal ('P') by name. */
    public static ByteBuf close(ByteBuf out, byte kind, byte[] name) {
        out.writeByte(Protocol.Frontend.CLOSE).writeInt(4 + 1 + name.length + 1);
        return out.writeByte(kind).writeBytes(name).writeByte(0);
    }

    // ---------------------------------------------------------------- writing helpers

    /** Writes the type byte and a length placeholder; returns the index of the type byte for endMessage. */
    private static int beginMessage(ByteBuf out, byte type) {
        int start = out.writerIndex();
        out.writeByte(type);
        out.writeInt(0);
        return start;
    }

    private static ByteBuf endMessage(ByteBuf out, int start) {
        return out.setInt(start + 1, out.writerIndex() - start - 1);
    }

    /** Writes a String as UTF-8 followed by NUL. */
    public static ByteBuf writeCString(ByteBuf out, String value) {
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("string field contains NUL");
        }
        out.writeCharSequence(value, StandardCharsets.UTF_8);
        return out.writeByte(0);
    }

    // ---------------------------------------------------------------- readers

    /** Fields of the ErrorResponse or NoticeResponse at the reader index. */
    public static ErrorFields readErrorFields(ByteBuf frame) {
        return readErrorFields(frame, frame.readerIndex());
    }

    /** Fields of the ErrorResponse or NoticeResponse whose type byte is at {@code index}. */
    public static ErrorFields readErrorFields(ByteBuf buf, int index) {
        byte type = buf.getByte(index);
        if (type != Protocol.Backend.ERROR_RESPONSE && type != Protocol.Backend.NOTICE_RESPONSE) {
            throw unexpectedType(type, "ErrorResponse or NoticeResponse");
        }
        int end = frameEnd(buf, index, type, 1);
        Map<Character, String> fields = new LinkedHashMap<>();
        int i = FrameDecoder.bodyIndex(index);
        while (true) {
            if (i >= end) {
                throw new ProtocolException("invalid message format: missing terminator in error fields");
            }
            byte code = buf.getByte(i);
            if (code == 0) {
                return new ErrorFields(fields);
            }
            int nul = cStringEnd(buf, i + 1, end);
            fields.put((char) (code & 0xFF), buf.toString(i + 1, nul - i - 1, StandardCharsets.UTF_8));
            i = nul + 1;
        }
    }

    public static ParameterStatus readParameterStatus(ByteBuf frame) {
        return readParameterStatus(frame, frame.readerIndex());
    }

    public static ParameterStatus readParameterStatus(ByteBuf buf, int index) {
        int end = frameEnd(buf, index, Protocol.Backend.PARAMETER_STATUS, 2);
        int nameStart = FrameDecoder.bodyIndex(index);
        int nameEnd = cStringEnd(buf, nameStart, end);
        int valueEnd = cStringEnd(buf, nameEnd + 1, end);
        return new ParameterStatus(buf.toString(nameStart, nameEnd - nameStart, StandardCharsets.UTF_8),
                buf.toString(nameEnd + 1, valueEnd - nameEnd - 1, StandardCharsets.UTF_8));
    }

    public static BackendKeyData readBackendKeyData(ByteBuf frame) {
        return readBackendKeyData(frame, frame.readerIndex());
    }

    public static BackendKeyData readBackendKeyData(ByteBuf buf, int index) {
        frameEnd(buf, index, Protocol.Backend.BACKEND_KEY_DATA, 8);
        return new BackendKeyData(buf.getInt(index + 5), buf.getInt(index + 9));
    }

    /** The {@link Protocol.TransactionStatus} byte of a ReadyForQuery. */
    public static byte readTransactionStatus(ByteBuf frame) {
        return readTransactionStatus(frame, frame.readerIndex());
    }

    public static byte readTransactionStatus(ByteBuf buf, int index) {
        frameEnd(buf, index, Protocol.Backend.READY_FOR_QUERY, 1);
        return buf.getByte(index + HEADER_LENGTH);
    }

    /** The {@link Protocol.AuthenticationCode} of an Authentication message. */
    public static int readAuthenticationCode(ByteBuf frame) {
        return readAuthenticationCode(frame, frame.readerIndex());
    }

    public static int readAuthenticationCode(ByteBuf buf, int index) {
        frameEnd(buf, index, Protocol.Backend.AUTHENTICATION, 4);
        return buf.getInt(index + HEADER_LENGTH);
    }

    /**
     * What follows the code of an Authentication message: the MD5 salt, or the SASL data of
     * AuthenticationSASLContinue and AuthenticationSASLFinal.
     */
    public static byte[] readAuthenticationData(ByteBuf frame) {
        return readAuthenticationData(frame, frame.readerIndex());
    }

    public static byte[] readAuthenticationData(ByteBuf buf, int index) {
        int end = frameEnd(buf, index, Protocol.Backend.AUTHENTICATION, 4);
        int from = index + HEADER_LENGTH + 4;
        return ByteBufUtil.getBytes(buf, from, end - from);
    }

    /** The mechanisms offered by an AuthenticationSASL message, in the server's order of preference. */
    public static List<String> readSaslMechanisms(ByteBuf frame) {
        return readSaslMechanisms(frame, frame.readerIndex());
    }

    public static List<String> readSaslMechanisms(ByteBuf buf, int index) {
        int end = frameEnd(buf, index, Protocol.Backend.AUTHENTICATION, 5);
        int code = buf.getInt(index + HEADER_LENGTH);
        if (code != Protocol.AuthenticationCode.SASL) {
            throw new ProtocolException("expected AuthenticationSASL, got authentication code " + code);
        }
        List<String> mechanisms = new ArrayList<>(2);
        int i = index + HEADER_LENGTH + 4;
        while (true) {
            int nul = cStringEnd(buf, i, end);
            if (nul == i) {
                return List.copyOf(mechanisms);
            }
            mechanisms.add(buf.toString(i, nul - i, StandardCharsets.UTF_8));
            i = nul + 1;
        }
    }

    /** The values of a DataRow, text format assumed; a null element is SQL NULL. */
    public static List<String> readDataRow(ByteBuf frame) {
        return readDataRow(frame, frame.readerIndex());
    }

    public static List<String> readDataRow(ByteBuf buf, int index) {
        int end = frameEnd(buf, index, Protocol.Backend.DATA_ROW, 2);
        int i = index + HEADER_LENGTH;
        int count = buf.getUnsignedShort(i);
        i += 2;
        List<String> values = new ArrayList<>(count);
        for (int column = 0; column < count; column++) {
            if (end - i < 4) {
                throw new ProtocolException("invalid message format: DataRow shorter than its column count");
            }
            int length = buf.getInt(i);
            i += 4;
            if (length == -1) {
                values.add(null);
            } else if (length < 0 || length > end - i) {
                throw new ProtocolException("invalid message format: DataRow value length " + length);
            } else {
                values.add(buf.toString(i, length, StandardCharsets.UTF_8));
                i += length;
            }
        }
        return values;
    }

    /** The password of a PasswordMessage ('p' while the server asked for a cleartext or MD5 password). */
    public static String readPasswordMessage(ByteBuf frame) {
        return readPasswordMessage(frame, frame.readerIndex());
    }

    public static String readPasswordMessage(ByteBuf buf, int index) {
        int end = frameEnd(buf, index, Protocol.Frontend.PASSWORD_MESSAGE, 1);
        return readCString(buf, FrameDecoder.bodyIndex(index), end);
    }

    /** A SASLInitialResponse ('p' as the first answer to AuthenticationSASL). */
    public static SaslInitialResponse readSaslInitialResponse(ByteBuf frame) {
        return readSaslInitialResponse(frame, frame.readerIndex());
    }

    public static SaslInitialResponse readSaslInitialResponse(ByteBuf buf, int index) {
        int end = frameEnd(buf, index, Protocol.Frontend.PASSWORD_MESSAGE, 5);
        int nameStart = FrameDecoder.bodyIndex(index);
        int nameEnd = cStringEnd(buf, nameStart, end);
        if (end - nameEnd - 1 < 4) {
            throw new ProtocolException("invalid message format: SASLInitialResponse without data length");
        }
        int length = buf.getInt(nameEnd + 1);
        int dataStart = nameEnd + 5;
        byte[] data = null;
        if (length != -1) {
            if (length < 0 || length != end - dataStart) {
                throw new ProtocolException("invalid message format: SASLInitialResponse data length " + length);
            }
            data = ByteBufUtil.getBytes(buf, dataStart, length);
        } else if (dataStart != end) {
            throw new ProtocolException("invalid message format: SASLInitialResponse data length " + length);
        }
        return new SaslInitialResponse(buf.toString(nameStart, nameEnd - nameStart, StandardCharsets.UTF_8), data);
    }

    /** The data of a SASLResponse ('p' after AuthenticationSASLContinue). */
    public static byte[] readSaslResponse(ByteBuf frame) {
        return readSaslResponse(frame, frame.readerIndex());
    }

    public static byte[] readSaslResponse(ByteBuf buf, int index) {
        int end = frameEnd(buf, index, Protocol.Frontend.PASSWORD_MESSAGE, 0);
        int from = FrameDecoder.bodyIndex(index);
        return ByteBufUtil.getBytes(buf, from, end - from);
    }

    /** Reads a NUL-terminated UTF-8 string at the reader index and moves the reader index past the NUL. */
    public static String readCString(ByteBuf buf) {
        int start = buf.readerIndex();
        int nul = cStringEnd(buf, start, buf.writerIndex());
        String value = buf.toString(start, nul - start, StandardCharsets.UTF_8);
        buf.readerIndex(nul + 1);
        return value;
    }

    /** Reads the NUL-terminated UTF-8 string at {@code index}, whose NUL must come before {@code end}. */
    public static String readCString(ByteBuf buf, int index, int end) {
        int nul = cStringEnd(buf, index, end);
        return buf.toString(index, nul - index, StandardCharsets.UTF_8);
    }

    /** Index of the NUL ending the string at {@code index}; the next field starts after it. */
    public static int cStringEnd(ByteBuf buf, int index, int end) {
        int nul = index < end ? buf.indexOf(index, end, (byte) 0) : -1;
        if (nul < 0) {
            throw new ProtocolException("invalid message format: unterminated string");
        }
        return nul;
    }

    /**
     * Checks the frame at {@code index}: its type, a body of at least {@code minBodyLength} bytes, and that the
     * whole frame lies within the buffer. Returns the index just past the frame.
     */
    private static int frameEnd(ByteBuf buf, int index, byte type, int minBodyLength) {
        if (buf.writerIndex() - index < HEADER_LENGTH) {
            throw new ProtocolException("invalid message format: truncated header");
        }
        byte actual = buf.getByte(index);
        if (actual != type) {
            throw unexpectedType(actual, "'" + (char) type + "'");
        }
        int length = buf.getInt(index + 1);
        if (length < 4 + minBodyLength || length > buf.writerIndex() - index - 1) {
            throw new ProtocolException("invalid message format: bad length " + length + " for '" + (char) type
                    + "'");
        }
        return index + 1 + length;
    }

    private static ProtocolException unexpectedType(byte type, String expected) {
        return new ProtocolException("unexpected message type '" + (char) (type & 0xFF) + "', expected " + expected);
    }
}
