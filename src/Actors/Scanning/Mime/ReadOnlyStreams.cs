using System.Runtime.InteropServices;

namespace MailScanner.Actors.Scanning.Mime;

/// <summary>Bytes already in memory, read as a stream by MimeKit and the archive readers.</summary>
public static class ReadOnlyStreams
{
    /// <summary>A read-only stream over <paramref name="bytes"/>, without copying them when they live in an array.</summary>
    public static MemoryStream Over(ReadOnlyMemory<byte> bytes) =>
        MemoryMarshal.TryGetArray(bytes, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(bytes.ToArray(), writable: false);
}
