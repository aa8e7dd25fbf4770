using LayerStats.Core.Model;

namespace LayerStats.Tests;

public sealed class DigestTests
{
    [Fact]
    public void Compute_of_empty_input_is_the_well_known_sha256()
    {
        Assert.Equal("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Digest.Compute([]).ToString());
    }

    [Theory]
    [InlineData("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855")]
    [InlineData("sha256:abc")]
    [InlineData("md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("")]
    public void TryParse_refuses_what_is_not_a_canonical_digest(string text)
    {
        Assert.False(Digest.TryParse(text, out _));
    }
}
