package pgsvc.protocol;

import io.netty.handler.codec.DecoderException;

/**
 * Input that breaks the protocol. The message is the text the client sees in its FATAL ErrorResponse (PgBouncer's
 * wording where PgBouncer has one), so it must never contain a stack trace or the peer's secrets.
 *
 * <p>A {@link DecoderException} because the decoders throw it from {@code decode}: {@code ByteToMessageDecoder}
 * passes a DecoderException through unchanged to {@code exceptionCaught}, whereas anything else would arrive wrapped
 * and the handler would have to unwrap it to find the SQLSTATE.
 */
public final class ProtocolException extends DecoderException {

    private static final long serialVersionUID = 1L;

    private final String sqlState;

    public ProtocolException(String message) {
        this(Protocol.PROTOCOL_VIOLATION, message);
    }

    public ProtocolException(String sqlState, String message) {
        super(message);
        if (sqlState == null || sqlState.length() != 5) {
            throw new IllegalArgumentException("SQLSTATE must have 5 characters: " + sqlState);
        }
        this.sqlState = sqlState;
    }

    /** The SQLSTATE for the ErrorResponse; 08P01 (protocol_violation) unless given. */
    public String sqlState() {
        return sqlState;
    }
}
