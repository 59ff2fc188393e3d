package pgsvc.protocol;

/**
 * The untyped packets a client may open a connection with, as emitted by {@link StartupDecoder}. Sealed so that a
 * switch over them in the pooler is checked for completeness by the compiler.
 */
public sealed interface StartupPacket permits SslRequest, GssEncRequest, CancelRequest, StartupMessage {
}
