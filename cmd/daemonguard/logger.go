package main

import (
	"os"
	"slices"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// newLogger is controller-runtime's zap.New(zap.UseFlagOptions(o)), the
// same --zap-* flags and defaults, without the sampling it adds in
// production mode. Past 100 identical lines in a second that keeps one in
// 100: a burst of denials would lose the very lines that name the denied
// DaemonSets, and its counters alone hold half a MiB for the life of the
// process.
func newLogger(o *zap.Options) logr.Logger {
	out := o.DestWriter
	if out == nil {
		out = os.Stderr
	}
	// Development mode: console, debug, stack traces from warnings; else
	// JSON, info, stack traces from errors.
	newEncoder, level, stack := zap.NewEncoderFunc(jsonEncoder), uberzap.InfoLevel, uberzap.ErrorLevel
	opts := slices.Clone(o.ZapOpts)
	if o.Development {
		newEncoder, level, stack = consoleEncoder, uberzap.DebugLevel, uberzap.WarnLevel
		opts = append(opts, uberzap.Development())
	}
	if o.NewEncoder != nil {
		newEncoder = o.NewEncoder
	}
	levelEnabler, stackEnabler := zapcore.LevelEnabler(uberzap.NewAtomicLevelAt(level)), zapcore.LevelEnabler(uberzap.NewAtomicLevelAt(stack))
	if o.Level != nil {
		levelEnabler = o.Level
	}
	if o.StacktraceLevel != nil {
		stackEnabler = o.StacktraceLevel
	}
	timeEncoder := o.TimeEncoder
	if timeEncoder == nil {
		timeEncoder = zapcore.RFC3339TimeEncoder
	}
	encoder := o.Encoder
	if encoder == nil {
		configs := append([]zap.EncoderConfigOption{func(c *zapcore.EncoderConfig) { c.EncodeTime = timeEncoder }}, o.EncoderConfigOptions...)
		encoder = newEncoder(configs...)
	}
	sink := zapcore.AddSync(out)
	opts = append(opts, uberzap.AddStacktrace(stackEnabler), uberzap.ErrorOutput(sink))
	core := zapcore.NewCore(&zap.KubeAwareEncoder{Encoder: encoder, Verbose: o.Development}, sink, levelEnabler)
	return zapr.NewLogger(uberzap.New(core, opts...))
}

func jsonEncoder(opts ...zap.EncoderConfigOption) zapcore.Encoder {
	c := uberzap.NewProductionEncoderConfig()
	for _, o := range opts {
		o(&c)
	}
	return zapcore.NewJSONEncoder(c)
}

func consoleEncoder(opts ...zap.EncoderConfigOption) zapcore.Encoder {
	c := uberzap.NewDevelopmentEncoderConfig()
	for _, o := range opts {
		o(&c)
	}
	return zapcore.NewConsoleEncoder(c)
}
