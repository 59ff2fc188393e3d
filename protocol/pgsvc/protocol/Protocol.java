package pgsvc.protocol;

/**
 * Numbers and message type bytes of the PostgreSQL frontend/backend protocol version 3.
 *
 * <p>Frontend and backend reuse letters for different messages ('E' is Execute one way and ErrorResponse the
 * other, 'S' is Sync and ParameterStatus), so the type bytes live in {@link Frontend} and {@link Backend}.
 */
public final class Protocol {

    /** Protocol 3.0 as sent in StartupMessage: major in the high 16 bits, minor in the low 16. */
    public static final int PROTOCOL_VERSION_3_0 = 196608;

    /** The codes of the untyped startup packets, placed where StartupMessage has its protocol version. */
    public static final int SSL_REQUEST_CODE = 80877103;
    public static final int GSSENC_REQUEST_CODE = 80877104;
    public static final int CANCEL_REQUEST_CODE = 80877102;

    /** PostgreSQL's MAX_STARTUP_PACKET_LENGTH. */
    public static final int DEFAULT_MAX_STARTUP_PACKET_LENGTH = 10000;

    /** SQLSTATE protocol_violation, the class 08 code PostgreSQL uses for malformed input. */
    public static final String PROTOCOL_VIOLATION = "08P01";

    private Protocol() {
    }

    public static int majorVersion(int protocolVersion) {
        return protocolVersion >>> 16;
    }

    public static int minorVersion(int protocolVersion) {
        return protocolVersion & 0xFFFF;
    }

    public static int protocolVersion(int major, int minor) {
        return (major << 16) | (minor & 0xFFFF);
    }

    /** Type bytes of messages sent by the client. */
    public static final class Frontend {
        public static final byte BIND = 'B';
        public static final byte CLOSE = 'C';
        public static final byte COPY_DATA = 'd';
        public static final byte COPY_DONE = 'c';
        public static final byte COPY_FAIL = 'f';
        public static final byte DESCRIBE = 'D';
        public static final byte EXECUTE = 'E';
        public static final byte FLUSH = 'H';
        public static final byte FUNCTION_CALL = 'F';
        public static final byte PARSE = 'P';
        /** PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse all use 'p'. */
        public static final byte PASSWORD_MESSAGE = 'p';
        public static final byte QUERY = 'Q';
        public static final byte SYNC = 'S';
        public static final byte TERMINATE = 'X';

        private Frontend() {
        }
    }

    /** Type bytes of messages sent by the server. */
    public static final class Backend {
        public static final byte AUTHENTICATION = 'R';
        public static final byte BACKEND_KEY_DATA = 'K';
        public static final byte BIND_COMPLETE = '2';
        public static final byte CLOSE_COMPLETE = '3';
        public static final byte COMMAND_COMPLETE = 'C';
        public static final byte COPY_BOTH_RESPONSE = 'W';
        public static final byte COPY_DATA = 'd';
        public static final byte COPY_DONE = 'c';
        public static final byte COPY_IN_RESPONSE = 'G';
        public static final byte COPY_OUT_RESPONSE = 'H';
        public static final byte DATA_ROW = 'D';
        public static final byte EMPTY_QUERY_RESPONSE = 'I';
        public static final byte ERROR_RESPONSE = 'E';
        public static final byte FUNCTION_CALL_RESPONSE = 'V';
        public static final byte NEGOTIATE_PROTOCOL_VERSION = 'v';
        public static final byte NO_DATA = 'n';
        public static final byte NOTICE_RESPONSE = 'N';
        public static final byte NOTIFICATION_RESPONSE = 'A';
        public static final byte PARAMETER_DESCRIPTION = 't';
        public static final byte PARAMETER_STATUS = 'S';
        public static final byte PARSE_COMPLETE = '1';
        public static final byte PORTAL_SUSPENDED = 's';
        public static final byte READY_FOR_QUERY = 'Z';
        public static final byte ROW_DESCRIPTION = 'T';

        private Backend() {
        }
    }

    /** The int32 that follows the 'R' of an Authentication message. */
    public static final class AuthenticationCode {
        public static final int OK = 0;
        public static final int KERBEROS_V5 = 2;
        public static final int CLEARTEXT_PASSWORD = 3;
        public static final int MD5_PASSWORD = 5;
        public static final int GSS = 7;
        public static final int GSS_CONTINUE = 8;
        public static final int SSPI = 9;
        public static final int SASL = 10;
        public static final int SASL_CONTINUE = 11;
        public static final int SASL_FINAL = 12;

        private AuthenticationCode() {
        }
    }

    /** The status byte of ReadyForQuery. */
    public static final class TransactionStatus {
        public static final byte IDLE = 'I';
        public static final byte IN_TRANSACTION = 'T';
        public static final byte FAILED = 'E';

        private TransactionStatus() {
        }
    }

    /** Values of the severity fields (S, V) of ErrorResponse and NoticeResponse. */
    public static final class Severity {
        public static final String ERROR = "ERROR";
        public static final String FATAL = "FATAL";
        public static final String PANIC = "PANIC";
        public static final String WARNING = "WARNING";
        public static final String NOTICE = "NOTICE";
        public static final String DEBUG = "DEBUG";
        public static final String INFO = "INFO";
        public static final String LOG = "LOG";

        private Severity() {
        }
    }

    /** Field codes of ErrorResponse and NoticeResponse. */
    public static final class ErrorField {
        /** Localized severity. */
        public static final byte SEVERITY = 'S';
        /** Severity that is never localized (PostgreSQL 9.6 and later): what code should compare. */
        public static final byte SEVERITY_NON_LOCALIZED = 'V';
        public static final byte SQLSTATE = 'C';
        public static final byte MESSAGE = 'M';
        public static final byte DETAIL = 'D';
        public static final byte HINT = 'H';
        public static final byte POSITION = 'P';
        public static final byte INTERNAL_POSITION = 'p';
        public static final byte INTERNAL_QUERY = 'q';
        public static final byte WHERE = 'W';
        public static final byte SCHEMA_NAME = 's';
        public static final byte TABLE_NAME = 't';
        public static final byte COLUMN_NAME = 'c';
        public static final byte DATA_TYPE_NAME = 'd';
        public static final byte CONSTRAINT_NAME = 'n';
        public static final byte FILE = 'F';
        public static final byte LINE = 'L';
        public static final byte ROUTINE = 'R';

        private ErrorField() {
        }
    }

    /** Type OIDs of pg_catalog types the pooler itself reports in RowDescription (console, SHOW). */
    public static final class Oid {
        public static final int BOOL = 16;
        public static final int INT8 = 20;
        public static final int INT2 = 21;
        public static final int INT4 = 23;
        public static final int TEXT = 25;
        public static final int OID = 26;
        public static final int FLOAT4 = 700;
        public static final int FLOAT8 = 701;
        public static final int VARCHAR = 1043;
        public static final int TIMESTAMP = 1114;
        public static final int TIMESTAMPTZ = 1184;
        public static final int NUMERIC = 1700;

        private Oid() {
        }

        /** pg_type.typlen: the fixed size of a type, or -1 for variable length (unknown OIDs included). */
        public static short typeSize(int oid) {
            switch (oid) {
                case BOOL:
                    return 1;
                case INT2:
                    return 2;
                case INT4:
                case OID:
                case FLOAT4:
                    return 4;
                case INT8:
                case FLOAT8:
                case TIMESTAMP:
                case TIMESTAMPTZ:
                    return 8;
                default:
                    return -1;
            }
        }
    }
}
