namespace LayerStats.Core.Model;

/// <summary>An OCI platform: os/architecture[/variant].</summary>
public sealed record Platform(string Os, string Architecture, string? Variant = null)
{
    public override string ToString() =>
        string.IsNullOrEmpty(Variant) ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    /// <summary>Parses <c>os/arch[/variant]</c> as <c>--platform</c> takes it.</summary>
    public static Platform Parse(string value)
    {
        string[] parts = value.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(string.IsNullOrWhiteSpace))
        {
            throw new FormatException($"--platform takes os/arch[/variant], not '{value}'");
        }

        return new Platform(parts[0], parts[1], parts.Length == 3 ? parts[2] : null);
    }

    /// <summary>True when <paramref name="other"/> is what this filter asks for (no variant in the filter matches any variant).</summary>
    public bool Matches(Platform? other) =>
        other is not null
        && string.Equals(Os, other.Os, StringComparison.Ordinal)
        && string.Equals(Architecture, other.Architecture, StringComparison.Ordinal)
        && (string.IsNullOrEmpty(Variant) || string.Equals(Variant, other.Variant, StringComparison.Ordinal));
}
