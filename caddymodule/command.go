package caddymodule

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-wechat/caddy-wechat/internal/token"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "wechat",
		Usage: "keygen [--algorithm HS256|EdDSA|ES256]",
		Short: "Tools of the wechat app: keygen makes a token or assertion key",
		Long: `
keygen prints a new key in the form the wechat app's token { signing_key }
and { previous_key } take: for HS256 a random 48-byte key as base64 text
(the text is the key), for EdDSA and ES256 a private key in PEM (PKCS#8).
For EdDSA and ES256 it also prints the public key as a JWK, on standard
error, so that

    caddy wechat keygen --algorithm EdDSA > token_key.pem

leaves only the private key in the file.
`,
		CobraFunc: func(cmd *cobra.Command) {
			keygen := &cobra.Command{
				Use:   "keygen [--algorithm HS256|EdDSA|ES256]",
				Short: "Prints a new token or assertion key",
				Args:  cobra.NoArgs,
				RunE: func(c *cobra.Command, _ []string) error {
					alg, _ := c.Flags().GetString("algorithm")
					return keygen(c.OutOrStdout(), c.ErrOrStderr(), alg)
				},
			}
			keygen.Flags().StringP("algorithm", "a", token.HS256, "HS256, EdDSA or ES256")
			cmd.AddCommand(keygen)
		},
	})
}

// keygen writes a new key of alg to out, and its public JWK to info.
func keygen(out, info io.Writer, alg string) error {
	switch strings.ToUpper(alg) {
	case "HS256":
		alg = token.HS256
	case "EDDSA":
		alg = token.EdDSA
	case "ES256":
		alg = token.ES256
	default:
		return fmt.Errorf("--algorithm %q: expected HS256, EdDSA or ES256", alg)
	}
	material, err := token.GenerateKey(alg)
	if err != nil {
		return err
	}
	if alg == token.HS256 {
		// Printable, and still 64 bytes of key: the text is the key.
		_, err := fmt.Fprintln(out, base64.RawURLEncoding.EncodeToString(material))
		return err
	}
	k, err := token.NewKey(alg, material)
	if err != nil {
		return err
	}
	if _, err := out.Write(material); err != nil {
		return err
	}
	jwk, _ := k.JWK()
	pub, err := json.Marshal(jwk)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(info, "public JWK (kid %s):\n%s\n", k.ID, pub)
	return err
}
